"""Build a configured model-registry instance."""

from __future__ import annotations

import httpx

from integrations.http import ServiceClient
from integrations.registry.config import RegistryConfig
from integrations.registry.mlflow.client import MlflowClient
from integrations.registry.mlflow.registry import MlflowRegistry
from integrations.registry.protocol import ModelRegistry


def build_instance(
    name: str,
    config: RegistryConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ModelRegistry:
    """The instance ``name`` described by ``config``; credentials are read now (ConfigError
    when an environment variable or file is missing), so a bad config fails at start-up."""
    service = ServiceClient(
        kind="MLflow",
        base_url=config.url,
        policy=config.http,
        headers=config.auth.headers(),
        auth=config.auth.httpx_auth(),
        transport=transport,
    )
    return MlflowRegistry(name, config.url, MlflowClient(service), config.validated_tag)
