"""Configuration of metrics instances (``integrations.metrics`` in the config file)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from integrations.credentials import AuthConfig, NoAuth
from integrations.http import HttpPolicy


class PrometheusConfig(BaseModel):
    """A Prometheus-compatible HTTP API (Prometheus, Thanos Query, Mimir, VictoriaMetrics).

    ``url`` is the server root; queries go to ``<url>/api/v1/query``. For Mimir use the
    prefix it serves the API under, e.g. ``http://mimir:8080/prometheus``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["prometheus"]
    url: AnyHttpUrl
    auth: AuthConfig = Field(default_factory=NoAuth)
    http: HttpPolicy = Field(default_factory=HttpPolicy)


MetricsConfig = Annotated[PrometheusConfig, Field(discriminator="kind")]
