"""Build every configured instance and register every kind's actions in one registry.

Each kind's actions are registered even when no instance of it is configured, so runbooks
validate everywhere; running such a step then fails with "no registries is configured".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from bot.errors import ConfigError
from integrations import http_action
from integrations.base import ActionRegistry, CheckResult, Instance
from integrations.metrics import actions as metrics_actions
from integrations.metrics import build as metrics_build
from integrations.orchestrator import actions as orchestrator_actions
from integrations.orchestrator import build as orchestrator_build
from integrations.registry import actions as registry_actions
from integrations.registry import build as registry_build
from integrations.serving import actions as serving_actions
from integrations.serving import build as serving_build
from integrations.settings import IntegrationsSettings


@dataclass
class Integrations:
    actions: ActionRegistry
    instances: list[Instance] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def check_all(self, timeout_s: float = 15.0) -> list[CheckResult]:
        """Ping every instance concurrently; one unreachable system does not hide the others."""

        async def one(instance: Instance) -> CheckResult:
            try:
                return await asyncio.wait_for(instance.check(), timeout_s)
            except Exception as exc:  # report, don't raise: this is a diagnostic
                return CheckResult(
                    name=instance.name,
                    kind=instance.kind,
                    url="",
                    reachable=False,
                    error=f"{type(exc).__name__}: {exc}",
                )

        return list(await asyncio.gather(*(one(i) for i in self.instances)))

    async def aclose(self) -> None:
        for close in self._closers:
            await close()


C = TypeVar("C")
T = TypeVar("T")


def _named(
    section: str,
    name: str,
    build: Callable[..., T],
    config: C,
    transport: httpx.AsyncBaseTransport | None,
) -> T:
    """Build one instance; a config problem names the instance it belongs to."""
    try:
        return build(name, config, transport=transport)
    except ConfigError as exc:
        raise ConfigError(f"integrations.{section}.{name}: {exc.message}", hint=exc.hint) from None


def build_integrations(
    settings: IntegrationsSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Integrations:
    """Instances and actions from config. Secrets are read now: a missing one is a ConfigError."""
    actions = ActionRegistry()
    integrations = Integrations(actions=actions)

    registries = {
        name: _named("registries", name, registry_build.build_instance, cfg, transport)
        for name, cfg in settings.registries.items()
    }
    registry_actions.register_actions(actions, registries)
    serving = {
        name: _named("serving", name, serving_build.build_instance, cfg, transport)
        for name, cfg in settings.serving.items()
    }
    serving_actions.register_actions(actions, serving, registries)
    orchestrators = {
        name: _named("orchestrators", name, orchestrator_build.build_instance, cfg, transport)
        for name, cfg in settings.orchestrators.items()
    }
    orchestrator_actions.register_actions(actions, orchestrators)
    metrics = {
        name: _named("metrics", name, metrics_build.build_instance, cfg, transport)
        for name, cfg in settings.metrics.items()
    }
    metrics_actions.register_actions(actions, metrics)
    http = http_action.register_http_action(actions, settings.http_request, transport)
    integrations._closers.append(http.aclose)

    built: list[Instance] = [
        *registries.values(),
        *serving.values(),
        *orchestrators.values(),
        *metrics.values(),
    ]
    for instance in built:
        integrations.instances.append(instance)
        integrations._closers.append(instance.aclose)
    return integrations
