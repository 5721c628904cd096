"""Build a metrics instance from its configuration."""

from __future__ import annotations

import httpx

from integrations.metrics.config import MetricsConfig
from integrations.metrics.prometheus import PrometheusSource
from integrations.metrics.protocol import MetricsSource


def build_instance(
    name: str, config: MetricsConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> MetricsSource:
    """The configured instance; secrets are read here, once (``ConfigError`` when missing)."""
    return PrometheusSource.from_config(name, config, transport=transport)
