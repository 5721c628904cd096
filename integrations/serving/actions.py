"""Runbook actions on serving layers, generic over :class:`ServingLayer`.

==========================  =============================  ==================================
action                      apply sets                     inverse
==========================  =============================  ==================================
serving.enable_fallback     the fallback model serves      serving.disable_fallback
serving.disable_fallback    the primary model serves       serving.enable_fallback
serving.rollback            canary 0% / previous URI       serving.rollback to the before
                            / explicit to_uri              URI and canary
serving.reload_model        a fresh copy of the model      none (not a state change)
serving.ensure_version      every layer serving a model    serving.ensure_version of the
                            serves a version (versions.py) version served before (undone
                                                           after the earlier steps)
serving.health              nothing (read-only)            none
==========================  =============================  ==================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import Field

from bot.errors import RetryableIntegrationError
from integrations.base import (
    ActionContext,
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
    pick_instance,
)
from integrations.registry.protocol import ModelRegistry
from integrations.serving.protocol import (
    Capability,
    ServingChange,
    ServingHealth,
    ServingLayer,
    unsupported,
)
from integrations.serving.versions import EnsureVersion


class ServingParams(ActionParams):
    #: The serving instance; the only configured one when omitted.
    instance: str | None = None
    #: The served model (KServe: the InferenceService name).
    model: str = Field(min_length=1)


class RollbackParams(ServingParams):
    #: Serve exactly this model URI (KServe storageUri); default: cancel the canary in
    #: flight, else go back to the recorded previous URI.
    to_uri: str | None = Field(None, min_length=1)
    #: Set the canary's share of traffic (0 sends everything to the last rolled-out
    #: revision). With ``to_uri``: the new revision's share; without: only the traffic moves.
    canary_percent: int | None = Field(None, ge=0, le=100)


class HealthParams(ServingParams):
    #: Wait up to this long for the model to become healthy (0: check once).
    timeout_s: float = Field(0.0, ge=0, le=1800)
    interval_s: float = Field(5.0, gt=0, le=300)


P = TypeVar("P", bound=ServingParams)


class _ServingAction(BaseAction[P]):
    capability: Capability

    def __init__(self, instances: Mapping[str, ServingLayer]) -> None:
        self._instances = dict(instances)

    def layer(self, params: P) -> ServingLayer:
        layer = pick_instance(self._instances, params.instance, "serving")
        if self.capability not in layer.capabilities:
            raise unsupported(layer, self.capability)
        return layer

    def target(self, params: P) -> str:
        layer = pick_instance(self._instances, params.instance, "serving")
        return f"serving:{layer.name}/{params.model}"

    def _plan(self, params: P, change: ServingChange) -> Plan:
        return Plan(
            target=self.target(params),
            current=change.before.as_dict(),
            intended=change.after.as_dict(),
            summary=change.summary,
            details=_details(change),
        )

    def _result(self, params: P, change: ServingChange) -> ActionResult:
        return ActionResult(
            target=self.target(params),
            before=change.before.as_dict(),
            after=change.after.as_dict(),
            summary=change.summary,
            details=_details(change),
        )


def _details(change: ServingChange) -> dict[str, Any]:
    return {"ready_before": change.before.ready, "ready_after": change.after.ready, **change.details}


class _FallbackAction(_ServingAction[ServingParams]):
    params_model = ServingParams
    capability: Capability = "fallback"
    enabled: bool
    undo: str
    undo_when_before: str

    async def plan(self, params: ServingParams, ctx: ActionContext) -> Plan:
        change = await self.layer(params).plan_fallback(params.model, enabled=self.enabled)
        return self._plan(params, change)

    async def apply(self, params: ServingParams, ctx: ActionContext) -> ActionResult:
        change = await self.layer(params).set_fallback(params.model, enabled=self.enabled)
        return self._result(params, change)

    def inverse(self, params: ServingParams, before: dict[str, Any]) -> Invocation | None:
        if before.get("mode") != self.undo_when_before:
            return None  # it was already there: nothing to undo
        layer = pick_instance(self._instances, params.instance, "serving")
        return Invocation(self.undo, {"instance": layer.name, "model": params.model})


class EnableFallback(_FallbackAction):
    name = "serving.enable_fallback"
    description = "Serve the model's configured naive/baseline fallback instead of the model."
    enabled = True
    undo = "serving.disable_fallback"
    undo_when_before = "primary"


class DisableFallback(_FallbackAction):
    name = "serving.disable_fallback"
    description = "Serve the primary model again instead of its fallback."
    enabled = False
    undo = "serving.enable_fallback"
    undo_when_before = "fallback"


class Rollback(_ServingAction[RollbackParams]):
    name = "serving.rollback"
    description = (
        "Roll the served model back: cancel the canary in flight, or serve the previous "
        "model URI (or an explicit to_uri)."
    )
    params_model = RollbackParams
    capability: Capability = "rollback"

    async def plan(self, params: RollbackParams, ctx: ActionContext) -> Plan:
        change = await self.layer(params).plan_rollback(
            params.model, to_uri=params.to_uri, canary_percent=params.canary_percent
        )
        return self._plan(params, change)

    async def apply(self, params: RollbackParams, ctx: ActionContext) -> ActionResult:
        change = await self.layer(params).rollback(
            params.model, to_uri=params.to_uri, canary_percent=params.canary_percent
        )
        return self._result(params, change)

    def inverse(self, params: RollbackParams, before: dict[str, Any]) -> Invocation | None:
        if not before.get("model_uri"):
            return None
        layer = pick_instance(self._instances, params.instance, "serving")
        return Invocation(
            self.name,
            {
                "instance": layer.name,
                "model": params.model,
                "to_uri": before["model_uri"],
                "canary_percent": before.get("canary_percent"),
            },
        )


class ReloadModel(_ServingAction[ServingParams]):
    name = "serving.reload_model"
    description = (
        "Load a fresh copy of the model (MLServer), so its URI is resolved again, e.g. after "
        "moving an MLflow alias."
    )
    params_model = ServingParams
    capability: Capability = "reload"

    async def plan(self, params: ServingParams, ctx: ActionContext) -> Plan:
        change = await self.layer(params).plan_reload(params.model)
        plan = self._plan(params, change)
        # A reload changes what is loaded even when the state fields look the same.
        return Plan(
            plan.target, plan.current, {**plan.intended, "reloaded": True}, plan.summary, plan.details
        )

    async def apply(self, params: ServingParams, ctx: ActionContext) -> ActionResult:
        change = await self.layer(params).reload(params.model)
        result = self._result(params, change)
        return ActionResult(
            result.target, result.before, {**result.after, "reloaded": True}, result.summary, result.details
        )


class Health(_ServingAction[HealthParams]):
    name = "serving.health"
    description = "Check that the served model is healthy (a verification step); fails if not."
    params_model = HealthParams
    capability: Capability = "health"
    mutating = False
    kind = ActionKind.OBSERVATION

    async def plan(self, params: HealthParams, ctx: ActionContext) -> Plan:
        layer = self.layer(params)
        health = await layer.health(params.model)
        state = {"model": params.model, "healthy": health.healthy}
        planned = ctx.planned.get(self.target(params))
        if planned is None:
            return Plan(self.target(params), state, state, health.summary, health.details)
        # An earlier step of the dry-run changes what is served: the check will look at that.
        summary = (
            f"{params.model} on {layer.name}: checks that it serves healthily once an earlier step "
            f"made it {_describe(planned)} (now: {health.summary})"
        )
        details = {**health.details, "planned": dict(planned)}
        return Plan(self.target(params), state, {"model": params.model, "healthy": True}, summary, details)

    async def apply(self, params: HealthParams, ctx: ActionContext) -> ActionResult:
        layer = self.layer(params)
        deadline = time.monotonic() + params.timeout_s
        health = await layer.health(params.model)
        while not health.healthy and time.monotonic() + params.interval_s <= deadline:
            await asyncio.sleep(params.interval_s)
            health = await layer.health(params.model)
        if not health.healthy:
            raise _unhealthy(layer, health, params.timeout_s)
        state = {"model": params.model, "healthy": True}
        return ActionResult(self.target(params), state, state, health.summary, health.details)


def _describe(state: Mapping[str, Any]) -> str:
    """The planned serving state in words: "serve its fallback (s3://...)", "serve v3"."""
    what = {"fallback": "serve its fallback", "primary": "serve its primary model"}.get(
        str(state.get("mode")), "serve"
    )
    extra = [str(state[k]) for k in ("model_uri",) if state.get(k)]
    if state.get("version"):
        what = f"serve v{state['version']}"
    if state.get("canary_percent") is not None:
        extra.append(f"{state['canary_percent']}% on the canary")
    return what + (f" ({', '.join(extra)})" if extra else "")


def _unhealthy(layer: ServingLayer, health: ServingHealth, waited_s: float) -> Exception:
    waited = f" after waiting {waited_s:g}s" if waited_s else ""
    system = f"{layer.kind} instance {layer.name}"
    return RetryableIntegrationError(
        f"{system}: {health.summary}{waited}",
        system=system,
        call=f"checking the health of {health.model}",
        hint="check the serving layer's status and logs; give timeout_s to wait for a rollout",
        **{k: v for k, v in health.details.items() if k in ("ready_reason", "ready_message")},
    )


def register_actions(
    registry: ActionRegistry,
    instances: Mapping[str, ServingLayer],
    registries: Mapping[str, ModelRegistry] | None = None,
) -> None:
    """The serving actions; ``registries`` are where serving.ensure_version reads versions."""
    for action in (EnableFallback, DisableFallback, Rollback, ReloadModel, Health):
        registry.register(action(instances))
    registry.register(EnsureVersion(instances, registries or {}))
