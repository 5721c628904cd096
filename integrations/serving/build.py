"""Build a serving instance from its config."""

from __future__ import annotations

import httpx

from bot.errors import ConfigError
from integrations.http import ServiceClient
from integrations.kube.client import KubeClient
from integrations.kube.credentials import load_credentials
from integrations.serving.config import (
    HttpServingConfig,
    KServeConfig,
    MLServerConfig,
    ServingConfig,
)
from integrations.serving.http_serving import HttpServing
from integrations.serving.kserve import KServeServing
from integrations.serving.mlserver import MLServerServing
from integrations.serving.protocol import ServingLayer


def build_instance(
    name: str, config: ServingConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> ServingLayer:
    """A ready-to-use serving instance. Secrets are read now (env or file), not at import.

    ``transport`` replaces the network for tests (``httpx.MockTransport``).
    """
    if isinstance(config, KServeConfig):
        credentials = load_credentials(config.cluster)
        namespace = config.namespace or credentials.namespace
        if not namespace:
            raise ConfigError(
                f"serving instance {name}: no namespace for the InferenceServices",
                hint="set `namespace` (the kubeconfig context names none)",
            )
        client = KubeClient(credentials, policy=config.http, transport=transport)
        return KServeServing(name, config, client, namespace)
    if isinstance(config, MLServerConfig):
        return MLServerServing(
            name,
            config,
            ServiceClient(
                kind="MLServer",
                base_url=config.url,
                policy=config.http,
                headers=config.auth.headers(),
                auth=config.auth.httpx_auth(),
                transport=transport,
            ),
        )
    assert isinstance(config, HttpServingConfig)
    headers = config.auth.headers()
    for header, secret in config.secret_headers.items():
        headers[header] = secret.resolve().get_secret_value()
    return HttpServing(
        name,
        config,
        ServiceClient(
            kind="HTTP serving",
            base_url=config.url,
            policy=config.http,
            headers=headers,
            auth=config.auth.httpx_auth(),
            transport=transport,
        ),
    )
