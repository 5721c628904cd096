"""KServe as a serving layer: InferenceServices through the Kubernetes API.

- rollback: with a canary in flight (Serverless mode), ``canaryTrafficPercent: 0`` sends all
  traffic back to the last rolled-out revision; otherwise ``storageUri`` goes back to the URI
  in ``incident-bot/previous-storage-uri`` (or to an explicit ``to_uri``).
- fallback: ``storageUri`` (and optionally ``modelFormat``) goes to the configured baseline,
  the canary is dropped so the baseline takes all traffic, and the primary is recorded in
  ``incident-bot/fallback-from`` so turning the fallback off restores it.

Every write is a merge patch carrying the resourceVersion that was read. On 409 the object is
read again: if only other fields moved (the controller updates status all the time), the same
change is sent again; if a field this change depends on moved, the change stops with a
conflict error, because the plan a human approved no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import CheckResult
from integrations.kube.client import KubeClient, is_conflict
from integrations.serving import kserve_spec as spec
from integrations.serving.config import KServeConfig, ServedModel
from integrations.serving.protocol import (
    Capability,
    ServedVersion,
    ServingChange,
    ServingHealth,
    ServingState,
    unsupported,
)

CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class _Decision:
    target: spec.Target
    summary: str


class KServeServing:
    kind = "kserve"
    capabilities: frozenset[Capability] = frozenset({"fallback", "rollback", "health", "version"})

    def __init__(self, name: str, config: KServeConfig, client: KubeClient, namespace: str):
        self.name = name
        self.config = config
        self.namespace = namespace
        self._kube = client

    @property
    def url(self) -> str:
        return self._kube.credentials.server

    @property
    def serves(self) -> Sequence[ServedModel]:
        return self.config.serves

    async def aclose(self) -> None:
        await self._kube.aclose()

    async def check(self) -> CheckResult:
        try:
            version = await self._kube.server_version()
            missing = []
            for verb in ("get", "patch"):
                allowed, _ = await self._kube.can_i(
                    verb,
                    group="serving.kserve.io",
                    resource="inferenceservices",
                    namespace=self.namespace,
                )
                if not allowed:
                    missing.append(verb)
        except RejectedIntegrationError as exc:
            authenticated = False if exc.status == 401 else None
            return CheckResult(
                self.name, self.kind, self.url, reachable=True, authenticated=authenticated, error=str(exc)
            )
        except Exception as exc:  # any failure is a check result, not a crash
            return CheckResult(self.name, self.kind, self.url, reachable=False, error=str(exc))
        error = None
        if missing:
            error = (
                f"not allowed to {' and '.join(missing)} inferenceservices.serving.kserve.io "
                f"in namespace {self.namespace}: grant them with a Role and RoleBinding"
            )
        return CheckResult(
            self.name, self.kind, self.url, reachable=True, authenticated=True, version=version, error=error
        )

    # -- reads ------------------------------------------------------------------------------

    async def _read(self, model: str) -> spec.IsvcView:
        if not spec.valid_name(model):
            raise InputError(
                f"{model!r} is not a valid InferenceService name",
                hint="InferenceService names are lowercase letters, digits and '-', starting with a letter",
            )
        obj = await self._kube.get(
            spec.isvc_path(self.namespace, model),
            call=f"reading InferenceService {self.namespace}/{model}",
        )
        return spec.view(obj)

    def _state(self, isvc: spec.IsvcView) -> ServingState:
        fallback = self.config.fallbacks.get(isvc.name)
        in_fallback = fallback is not None and isvc.storage_uri == fallback.model_uri
        return ServingState(
            model=isvc.name,
            mode="fallback" if in_fallback else "primary",
            model_uri=isvc.storage_uri,
            canary_percent=isvc.canary_percent,
            ready=isvc.ready,
            details=isvc.public_details(),
        )

    async def state(self, model: str) -> ServingState:
        return self._state(await self._read(model))

    async def health(self, model: str) -> ServingHealth:
        isvc = await self._read(model)
        rolling = (
            isvc.generation is not None
            and isvc.observed_generation is not None
            and isvc.observed_generation < isvc.generation
        )
        healthy = bool(isvc.ready) and not rolling
        if isvc.ready is None:
            why = "no Ready condition yet"
        else:
            why = f"Ready={'True' if isvc.ready else 'False'}"
            if isvc.ready_reason or isvc.ready_message:
                why += f" ({': '.join(p for p in (isvc.ready_reason, isvc.ready_message) if p)})"
        if rolling:
            why += f"; generation {isvc.generation} not yet observed by the controller"
        return ServingHealth(
            model=model,
            healthy=healthy,
            summary=f"InferenceService {self.namespace}/{model}: "
            f"{'healthy' if healthy else 'not healthy'}, {why}",
            details=isvc.public_details(),
        )

    # -- fallback ---------------------------------------------------------------------------

    def _fallback_decision(self, isvc: spec.IsvcView, enabled: bool) -> _Decision:
        fallback = self.config.fallbacks.get(isvc.name)
        if fallback is None:
            raise InputError(
                f"no fallback is configured for model {isvc.name} on serving instance {self.name}",
                hint=f"add fallbacks: {{{isvc.name}: {{model_uri: ...}}}} under "
                f"integrations.serving.{self.name}",
            )
        if fallback.model_format and isvc.predictor_key != "model":
            raise InputError(
                f"InferenceService {isvc.name} uses predictor.{isvc.predictor_key}; a fallback "
                "with model_format needs the predictor.model style",
                hint="drop model_format from the fallback or migrate to predictor.model",
            )
        spec.require_storage_uri(isvc)
        in_fallback = isvc.storage_uri == fallback.model_uri
        if enabled:
            if in_fallback:
                return _Decision(
                    spec.Target(),
                    f"{isvc.name} already serves the fallback {fallback.model_uri}; nothing to do",
                )
            target = spec.Target(
                storage_uri=fallback.model_uri,
                model_format=fallback.model_format,
                remove_canary=True,
                annotations={
                    spec.PREVIOUS_URI: isvc.storage_uri,
                    spec.FALLBACK_FROM: spec.fallback_from_annotation(isvc, fallback.model_format),
                },
            )
            return _Decision(
                target, f"{isvc.name}: primary {isvc.storage_uri} → fallback {fallback.model_uri}"
            )
        if not in_fallback:
            return _Decision(
                spec.Target(), f"{isvc.name} serves its primary model {isvc.storage_uri}; nothing to do"
            )
        primary = isvc.fallback_from
        if primary is None:
            raise InputError(
                f"{isvc.name} serves the fallback but the primary model it replaced is not "
                f"recorded (annotation {spec.FALLBACK_FROM})",
                hint="name the model to serve with serving.rollback and to_uri",
            )
        target = spec.Target(
            storage_uri=str(primary["storageUri"]),
            model_format=primary.get("modelFormat"),
            annotations={spec.PREVIOUS_URI: isvc.storage_uri, spec.FALLBACK_FROM: None},
        )
        return _Decision(
            target, f"{isvc.name}: fallback {isvc.storage_uri} → primary {primary['storageUri']}"
        )

    async def plan_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        return self._preview(await self._read(model), lambda isvc: self._fallback_decision(isvc, enabled))

    async def set_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        return await self._apply(model, lambda isvc: self._fallback_decision(isvc, enabled))

    # -- rollback ---------------------------------------------------------------------------

    def _rollback_decision(
        self, isvc: spec.IsvcView, to_uri: str | None, canary_percent: int | None
    ) -> _Decision:
        if canary_percent is not None and not isvc.serverless:
            raise InputError(
                f"InferenceService {isvc.name} runs in {isvc.deployment_mode} mode, where "
                "canaryTrafficPercent has no effect",
                hint="roll back with to_uri instead",
            )
        spec.require_storage_uri(isvc)
        if to_uri is not None:
            return self._explicit_uri(isvc, to_uri, canary_percent)
        if self._state(isvc).mode == "fallback":
            raise InputError(
                f"{isvc.name} serves its fallback model; turn the fallback off first "
                "(serving.disable_fallback)",
                hint="or name the model to serve with to_uri",
            )
        if canary_percent is not None:
            if isvc.canary_percent == canary_percent:
                return _Decision(
                    spec.Target(), f"canary of {isvc.name} already at {canary_percent}%; nothing to do"
                )
            return _Decision(
                spec.Target(canary_percent=canary_percent),
                f"canary of {isvc.name}: {spec.pct(isvc.canary_percent)} → {canary_percent}%",
            )
        if isvc.canary_in_flight:
            revision = isvc.rolled_back_revision()
            where = f"revision {revision}" if revision else "the last rolled-out revision"
            return _Decision(
                spec.Target(canary_percent=0),
                f"canary of {isvc.name}: {isvc.canary_percent}% → 0% (all traffic to {where})",
            )
        if isvc.serverless and isvc.canary_percent == 0:
            return _Decision(
                spec.Target(),
                f"canary of {isvc.name} already at 0% (traffic "
                "on the last rolled-out revision); nothing to do",
            )
        previous = isvc.annotations.get(spec.PREVIOUS_URI)
        if not previous:
            raise InputError(
                f"no previous model URI is recorded for {isvc.name} (annotation "
                f"{spec.PREVIOUS_URI}) and no canary is in flight",
                hint="name the model to serve with to_uri, or have the deploy pipeline set the annotation",
            )
        if previous == isvc.storage_uri:
            return _Decision(
                spec.Target(), f"{isvc.name} already serves the previous model {previous}; nothing to do"
            )
        # The annotation is left as is: it now names what is served, so applying again
        # changes nothing instead of flipping back.
        return _Decision(
            spec.Target(storage_uri=previous, remove_canary=True),
            f"storageUri of {isvc.name}: {isvc.storage_uri} → {previous}",
        )

    def _explicit_uri(self, isvc: spec.IsvcView, to_uri: str, canary_percent: int | None) -> _Decision:
        annotations: dict[str, str | None] = {}
        if isvc.storage_uri != to_uri:
            annotations[spec.PREVIOUS_URI] = isvc.storage_uri
            if isvc.annotations.get(spec.FALLBACK_FROM):
                annotations[spec.FALLBACK_FROM] = None  # leaving the fallback for good
        target = spec.Target(
            storage_uri=to_uri,
            canary_percent=canary_percent,
            remove_canary=canary_percent is None,
            annotations=annotations,
        )
        if target.reached_by(isvc):
            return _Decision(
                target,
                f"{isvc.name} already serves {to_uri}{spec.canary_note(canary_percent)}; nothing to do",
            )
        return _Decision(
            target,
            f"{isvc.name}: {isvc.storage_uri}"
            f"{spec.canary_note(isvc.canary_percent)} → {to_uri}"
            f"{spec.canary_note(canary_percent)}",
        )

    async def plan_rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        return self._preview(
            await self._read(model), lambda isvc: self._rollback_decision(isvc, to_uri, canary_percent)
        )

    async def rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        return await self._apply(model, lambda isvc: self._rollback_decision(isvc, to_uri, canary_percent))

    # -- version: the storageUri of the version ---------------------------------------------

    async def served_version(self, served: ServedModel) -> ServedVersion:
        health = await self.health(served.served_name)
        state = await self.state(served.served_name)
        evidence = f"storageUri {state.model_uri}; {health.summary}"
        return ServedVersion(served.served_name, None, state.model_uri, health.healthy, evidence)

    async def serve_version(self, served: ServedModel, version: str, uri: str) -> ServedVersion:
        if (await self.state(served.served_name)).mode == "fallback":
            raise InputError(
                f"{served.served_name} serves its fallback model; turn the fallback off first "
                "(serving.disable_fallback)"
            )
        await self.rollback(served.served_name, to_uri=uri)
        return await self.served_version(served)

    # -- reload: KServe rolls out on spec changes by itself ---------------------------------

    async def plan_reload(self, model: str) -> ServingChange:
        raise unsupported(self, "reload")

    async def reload(self, model: str) -> ServingChange:
        raise unsupported(self, "reload")

    # -- plan and apply ---------------------------------------------------------------------

    def _preview(self, isvc: spec.IsvcView, decide: Callable[[spec.IsvcView], _Decision]) -> ServingChange:
        decision = decide(isvc)
        return ServingChange(
            before=self._state(isvc),
            after=self._state(decision.target.predict(isvc)),
            summary=decision.summary,
            details={"patch": decision.target.merge_patch(isvc), **isvc.public_details()},
        )

    async def _apply(self, model: str, decide: Callable[[spec.IsvcView], _Decision]) -> ServingChange:
        first = await self._read(model)
        decision = decide(first)
        before = self._state(first)
        if decision.target.reached_by(first):
            return ServingChange(before, before, decision.summary, first.public_details())
        current = first
        call = f"patching InferenceService {self.namespace}/{model}"
        for _ in range(CONFLICT_RETRIES):
            try:
                obj = await self._kube.merge_patch(
                    spec.isvc_path(self.namespace, model),
                    decision.target.merge_patch(current),
                    call=call,
                )
            except RejectedIntegrationError as exc:
                if not is_conflict(exc):
                    raise
                current = await self._read(model)
                if decision.target.reached_by(current):
                    break  # an earlier attempt went through; its answer was lost
                if current.guard() != first.guard():
                    raise self._stale(first, current, call) from None
                continue
            current = spec.view(obj)
            break
        else:
            raise RejectedIntegrationError(
                f"{self._kube.system}: InferenceService {self.namespace}/{model} kept changing; "
                f"{CONFLICT_RETRIES} conflicts in a row on {call}",
                system=self._kube.system,
                call=call,
                status=409,
                hint="something writes it continuously; check its controllers and retry",
            )
        after = self._state(current)
        return ServingChange(before, after, decision.summary, current.public_details())

    def _stale(self, first: spec.IsvcView, now: spec.IsvcView, call: str) -> RejectedIntegrationError:
        moved = [
            f"{label} {a!r} → {b!r}"
            for label, a, b in zip(
                ("storageUri", "modelFormat", "canaryTrafficPercent", spec.PREVIOUS_URI, spec.FALLBACK_FROM),
                first.guard(),
                now.guard(),
                strict=True,
            )
            if a != b
        ]
        return RejectedIntegrationError(
            f"{self._kube.system}: InferenceService {self.namespace}/{first.name} changed while "
            f"the bot was {call}: {'; '.join(moved)}; the bot changed nothing",
            system=self._kube.system,
            call=call,
            status=409,
            hint="someone else changed the model meanwhile; plan again and re-approve",
        )
