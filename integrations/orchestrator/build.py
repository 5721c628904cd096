"""Build a training-orchestrator instance from its configuration."""

from __future__ import annotations

import httpx

from integrations.orchestrator.airflow import AirflowOrchestrator
from integrations.orchestrator.config import AirflowConfig, OrchestratorConfig
from integrations.orchestrator.prefect import PrefectOrchestrator
from integrations.orchestrator.protocol import TrainingOrchestrator


def build_instance(
    name: str,
    config: OrchestratorConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TrainingOrchestrator:
    """The configured instance; secrets are read here, once (``ConfigError`` when missing)."""
    if isinstance(config, AirflowConfig):
        return AirflowOrchestrator.from_config(name, config, transport=transport)
    return PrefectOrchestrator.from_config(name, config, transport=transport)
