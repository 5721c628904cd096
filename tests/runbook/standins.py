"""Stand-ins for the actions the built-in runbooks call, acting on a test ``Store``.

They take the real actions' parameter models, so a runbook that runs here speaks the real
actions' parameters. ``shipped_registry`` is the real registry instead (every kind's actions,
no instance configured, and the engine's built-ins): what ``serve`` and the CLI validate with.
"""

from __future__ import annotations

from typing import Any

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from bot.runbook.builtin import register_builtin_actions
from integrations.base import (
    ActionContext,
    ActionKind,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
)
from integrations.metrics.actions import WaitUntilParams
from integrations.orchestrator.actions import ScheduleParams
from integrations.registry.actions import (
    RollbackAliasParams,
    SetAliasParams,
)
from integrations.serving.actions import HealthParams, ServingParams
from integrations.serving.versions import EnsureVersionParams
from integrations.settings import IntegrationsSettings
from integrations.wiring import build_integrations
from tests.runbook.actions import Store


def _v(version: Any) -> str:
    return f"v{version}" if version is not None else "(unset)"


class SetAlias(BaseAction[SetAliasParams]):
    name = "registry.set_alias"
    description = name
    params_model = SetAliasParams

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: SetAliasParams) -> str:
        return f"registry:mlflow/{params.model}@{params.alias}"

    def _summary(self, params: SetAliasParams, before: Any) -> str:
        return f"alias {params.alias} of {params.model}: {_v(before)} → {_v(params.version)}"

    async def plan(self, params: SetAliasParams, ctx: ActionContext) -> Plan:
        before = self.store.values.get(f"alias:{params.model}@{params.alias}")
        return Plan(
            self.target(params),
            {"version": before},
            {"version": params.version},
            self._summary(params, before),
        )

    async def apply(self, params: SetAliasParams, ctx: ActionContext) -> ActionResult:
        key = f"alias:{params.model}@{params.alias}"
        before = self.store.values.get(key)
        self.store.values[key] = params.version
        self.store.applies.append((self.name, key, params.version))
        return ActionResult(
            self.target(params),
            {"version": before},
            {"version": params.version},
            self._summary(params, before),
        )


class RollbackAlias(BaseAction[RollbackAliasParams]):
    """Back to the newest older version listed in ``versions:<model>`` (validated ones)."""

    name = "registry.rollback_alias"
    description = name
    params_model = RollbackAliasParams

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: RollbackAliasParams) -> str:
        return f"registry:mlflow/{params.model}@{params.alias}"

    def _choose(self, params: RollbackAliasParams) -> tuple[str, str]:
        current = self.store.values.get(f"alias:{params.model}@{params.alias}")
        if current is None:
            raise RejectedIntegrationError(
                f"alias {params.alias!r} of model {params.model!r} is not set", system="mlflow"
            )
        older = [v for v in self.store.values.get(f"versions:{params.model}", []) if int(v) < int(current)]
        if not older:
            raise RejectedIntegrationError(
                f"no validated version of {params.model} before v{current}", system="mlflow"
            )
        return current, max(older, key=int)

    async def plan(self, params: RollbackAliasParams, ctx: ActionContext) -> Plan:
        current, target = self._choose(params)
        summary = f"alias {params.alias} of {params.model}: v{current} → v{target}"
        return Plan(self.target(params), {"version": current}, {"version": target}, summary)

    async def apply(self, params: RollbackAliasParams, ctx: ActionContext) -> ActionResult:
        current, target = self._choose(params)
        self.store.values[f"alias:{params.model}@{params.alias}"] = target
        self.store.applies.append((self.name, params.model, target))
        summary = f"alias {params.alias} of {params.model}: v{current} → v{target}"
        return ActionResult(self.target(params), {"version": current}, {"version": target}, summary)

    def inverse(self, params: RollbackAliasParams, before: dict[str, Any]) -> Invocation | None:
        body = {
            "instance": params.instance,
            "model": params.model,
            "alias": params.alias,
            "version": before["version"],
        }
        return Invocation("registry.set_alias", body)


class Fallback(BaseAction[ServingParams]):
    params_model = ServingParams

    def __init__(self, store: Store, on: bool) -> None:
        self.store = store
        self.on = on
        self.name = "serving.enable_fallback" if on else "serving.disable_fallback"
        self.description = self.name

    def target(self, params: ServingParams) -> str:
        return f"serving:kserve/{params.model}"

    def _summary(self, params: ServingParams, before: bool) -> str:
        label = {True: "fallback fraud-baseline", False: "primary"}
        return f"{params.model}: {label[before]} → {label[self.on]}"

    async def plan(self, params: ServingParams, ctx: ActionContext) -> Plan:
        before = bool(self.store.values.get(f"fallback:{params.model}", False))
        return Plan(
            self.target(params), {"fallback": before}, {"fallback": self.on}, self._summary(params, before)
        )

    async def apply(self, params: ServingParams, ctx: ActionContext) -> ActionResult:
        before = bool(self.store.values.get(f"fallback:{params.model}", False))
        self.store.values[f"fallback:{params.model}"] = self.on
        self.store.applies.append((self.name, params.model, self.on))
        return ActionResult(
            self.target(params), {"fallback": before}, {"fallback": self.on}, self._summary(params, before)
        )

    def inverse(self, params: ServingParams, before: dict[str, Any]) -> Invocation | None:
        if before["fallback"] == self.on:
            return None
        name = "serving.disable_fallback" if self.on else "serving.enable_fallback"
        return Invocation(name, {"instance": params.instance, "model": params.model})


class Health(BaseAction[HealthParams]):
    name = "serving.health"
    description = name
    params_model = HealthParams
    mutating = False
    kind = ActionKind.OBSERVATION

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: HealthParams) -> str:
        return f"serving:kserve/{params.model}"

    async def plan(self, params: HealthParams, ctx: ActionContext) -> Plan:
        healthy = bool(self.store.values.get(f"healthy:{params.model}", True))
        return Plan(
            self.target(params), {"healthy": healthy}, {"healthy": True}, f"{params.model} serves healthily"
        )

    async def apply(self, params: HealthParams, ctx: ActionContext) -> ActionResult:
        if not self.store.values.get(f"healthy:{params.model}", True):
            raise RetryableIntegrationError(f"{params.model} is not ready", system="kserve")
        return ActionResult(self.target(params), {}, {"healthy": True}, f"{params.model} is healthy")


class Schedule(BaseAction[ScheduleParams]):
    params_model = ScheduleParams
    mutating = True

    def __init__(self, store: Store, paused: bool) -> None:
        self.store = store
        self.paused = paused
        self.name = "orchestrator.pause_schedule" if paused else "orchestrator.resume_schedule"
        self.description = self.name

    def target(self, params: ScheduleParams) -> str:
        return f"orchestrator:airflow/{params.schedule}"

    def _summary(self, params: ScheduleParams, before: bool) -> str:
        label = {True: "paused", False: "active"}
        return f"schedule {params.schedule}: {label[before]} → {label[self.paused]}"

    async def plan(self, params: ScheduleParams, ctx: ActionContext) -> Plan:
        before = bool(self.store.values.get(f"paused:{params.schedule}", False))
        return Plan(
            self.target(params), {"paused": before}, {"paused": self.paused}, self._summary(params, before)
        )

    async def apply(self, params: ScheduleParams, ctx: ActionContext) -> ActionResult:
        before = bool(self.store.values.get(f"paused:{params.schedule}", False))
        self.store.values[f"paused:{params.schedule}"] = self.paused
        self.store.applies.append((self.name, params.schedule, self.paused))
        return ActionResult(
            self.target(params), {"paused": before}, {"paused": self.paused}, self._summary(params, before)
        )

    def inverse(self, params: ScheduleParams, before: dict[str, Any]) -> Invocation | None:
        name = "orchestrator.pause_schedule" if before["paused"] else "orchestrator.resume_schedule"
        return Invocation(name, {"schedule": params.schedule, "instance": params.instance})


class EnsureVersion(BaseAction[EnsureVersionParams]):
    """The serving layer ``served:<model>`` follows ``alias:<model>@champion`` when reloaded."""

    name = "serving.ensure_version"
    description = name
    params_model = EnsureVersionParams
    undo_last = True

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: EnsureVersionParams) -> str:
        return f"serving:mlserver/{params.model}"

    def _served(self, params: EnsureVersionParams) -> Any:
        return self.store.values.get(f"served:{params.model}", params.from_version)

    async def plan(self, params: EnsureVersionParams, ctx: ActionContext) -> Plan:
        now = self._served(params)
        summary = f"{params.model} served: v{now} → v{params.version}"
        return Plan(self.target(params), {"served": now}, {"served": params.version}, summary)

    async def apply(self, params: EnsureVersionParams, ctx: ActionContext) -> ActionResult:
        now = self._served(params)
        alias = self.store.values.get(f"alias:{params.model}@champion")
        if alias != params.version:
            raise RejectedIntegrationError(f"alias champion points to v{alias}", system="mlserver")
        self.store.values[f"served:{params.model}"] = params.version
        self.store.applies.append((self.name, params.model, params.version))
        summary = f"{params.model} served: v{now} → v{params.version}"
        return ActionResult(self.target(params), {"served": now}, {"served": params.version}, summary)

    def inverse(self, params: EnsureVersionParams, before: dict[str, Any]) -> Invocation | None:
        if before["served"] in (None, params.version):
            return None
        body = {"model": params.model, "version": before["served"], "from_version": params.version}
        return Invocation(self.name, body)


class WaitUntil(BaseAction[WaitUntilParams]):
    """Compares ``metric:<expr>`` from the store once."""

    name = "metrics.wait_until"
    description = name
    params_model = WaitUntilParams
    mutating = False
    kind = ActionKind.OBSERVATION

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: WaitUntilParams) -> str:
        return f"metrics:prometheus/{params.expr}"

    async def plan(self, params: WaitUntilParams, ctx: ActionContext) -> Plan:
        value = self.store.values.get(f"metric:{params.expr}", 0.0)
        condition = f"{params.expr} {params.op} {params.threshold:g}"
        return Plan(
            self.target(params), {"value": value}, {"condition": condition}, f"wait until {condition}"
        )

    async def apply(self, params: WaitUntilParams, ctx: ActionContext) -> ActionResult:
        value = float(self.store.values.get(f"metric:{params.expr}", 0.0))
        self.store.applies.append((self.name, params.expr, value))
        holds = {"<": value < params.threshold, ">": value > params.threshold}.get(params.op, False)
        if not holds:
            raise RejectedIntegrationError(
                f"{params.expr} is {value:g}, not {params.op} {params.threshold:g}", system="prometheus"
            )
        return ActionResult(self.target(params), {}, {"value": value}, f"{params.expr} = {value:g}: ok")


def shipped_registry() -> ActionRegistry:
    """Every action a bot with no instance configured knows: each kind's, and the built-ins."""
    registry = build_integrations(IntegrationsSettings()).actions
    register_builtin_actions(registry)
    return registry


def standin_registry(store: Store) -> ActionRegistry:
    """The same names, acting on ``store``: the built-in runbooks run end to end in tests."""
    registry = ActionRegistry()
    registry.register(SetAlias(store))
    registry.register(RollbackAlias(store))
    registry.register(Fallback(store, on=True))
    registry.register(Fallback(store, on=False))
    registry.register(Health(store))
    registry.register(Schedule(store, paused=True))
    registry.register(Schedule(store, paused=False))
    registry.register(WaitUntil(store))
    registry.register(EnsureVersion(store))
    register_builtin_actions(registry)
    return registry
