"""Seldon MLServer as a serving layer, through the V2 protocol and its model-repository
extension (``/v2/repository/index``, ``/v2/repository/models/{name}/load|unload``).

- fallback on: load the fallback model, and only once it is ready unload the primary;
  off: load the primary, then unload the fallback. A model whose primary is ready is in
  primary mode; a ready fallback with an unloaded primary is fallback mode.
- reload: ``load`` of a loaded model makes MLServer load a fresh copy, swap it in and unload
  the old one, without a gap in serving. The model's URI is resolved again, so with the MLflow
  runtime and ``models:/NAME@champion`` a moved alias is picked up.
- rollback is not MLServer's: move the registry alias back, then reload.
- version (``serving.ensure_version``): a model whose URI follows a registry alias
  (``models:/NAME@champion``, ``alias`` under ``serves``) serves another version by reloading
  once the alias points at it. MLServer's API reports a model's version only when its model
  settings declare one (``parameters.version``); for an alias URI it reports readiness, and the
  caller reads the alias before and after the load to know what it resolved to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.errors import (
    InputError,
    IntegrationError,
    RejectedIntegrationError,
    RetryableIntegrationError,
)
from integrations.base import CheckResult
from integrations.http import ServiceClient
from integrations.serving.config import MLServerConfig, ServedModel
from integrations.serving.protocol import (
    Capability,
    Mode,
    ServedVersion,
    ServingChange,
    ServingHealth,
    ServingState,
    unsupported,
)

READY = "READY"


class MLServerServing:
    kind = "mlserver"
    capabilities: frozenset[Capability] = frozenset({"fallback", "reload", "health", "version"})

    def __init__(self, name: str, config: MLServerConfig, client: ServiceClient) -> None:
        self.name = name
        self.config = config
        self.url = client.base_url
        self._http = client

    @property
    def serves(self) -> Sequence[ServedModel]:
        return self.config.serves

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check(self) -> CheckResult:
        try:
            response = await self._http.request("GET", "/v2", call="reading server metadata")
            body = response.json()
            await self._index()
        except RejectedIntegrationError as exc:
            authenticated = False if exc.status in (401, 403) else None
            return CheckResult(
                self.name, self.kind, self.url, reachable=True, authenticated=authenticated, error=str(exc)
            )
        except Exception as exc:  # any failure is a check result, not a crash
            return CheckResult(self.name, self.kind, self.url, reachable=False, error=str(exc))
        version = f"{body.get('name', 'mlserver')} {body.get('version', '')}".strip()
        return CheckResult(
            self.name, self.kind, self.url, reachable=True, authenticated=True, version=version
        )

    # -- reads ------------------------------------------------------------------------------

    async def _index(self) -> dict[str, dict[str, Any]]:
        """Model name → its repository entry (state READY/UNAVAILABLE/..., version, reason)."""
        response = await self._http.request(
            "POST",
            "/v2/repository/index",
            call="listing the model repository",
            idempotent=True,
            json={},
        )
        entries: dict[str, dict[str, Any]] = {}
        for entry in response.json():
            name = str(entry.get("name"))
            # Several versions of one model: it is READY when one of them is.
            if name not in entries or entry.get("state") == READY:
                entries[name] = entry
        return entries

    def _fallback_model(self, model: str) -> str | None:
        fallback = self.config.fallbacks.get(model)
        return fallback.model if fallback else None

    async def state(self, model: str) -> ServingState:
        return self._state(model, await self._index())

    def _state(self, model: str, index: dict[str, dict[str, Any]]) -> ServingState:
        if model not in index:
            raise RejectedIntegrationError(
                f"{self._http.system}: model {model} is not in the model repository",
                system=self._http.system,
                call=f"reading the state of {model}",
                status=404,
                hint=f"models in the repository: {', '.join(sorted(index)) or 'none'}",
            )
        fallback = self._fallback_model(model)
        primary_ready = index[model].get("state") == READY
        fallback_ready = fallback is not None and index.get(fallback, {}).get("state") == READY
        in_fallback = not primary_ready and fallback_ready
        served = index[fallback] if in_fallback and fallback else index[model]
        return ServingState(
            model=model,
            mode="fallback" if in_fallback else "primary",
            model_uri=None,
            ready=served.get("state") == READY,
            details={
                "serving": served.get("name"),
                "primary": _entry(index[model]),
                "fallback": _entry(index[fallback]) if fallback in index else None,
            },
        )

    async def health(self, model: str) -> ServingHealth:
        state = await self.state(model)
        served = str(state.details["serving"])
        response = await self._http.request(
            "GET",
            _ready_path(served),
            call=f"checking that {served} is ready",
            ok_statuses=(400, 404),
        )
        healthy = response.status_code == 200
        what = f"fallback {served}" if state.mode == "fallback" else served
        return ServingHealth(
            model=model,
            healthy=healthy,
            summary=f"{model} on {self.name}: serving {what}, "
            f"{'ready' if healthy else f'not ready (HTTP {response.status_code})'}",
            details=state.details,
        )

    # -- fallback ---------------------------------------------------------------------------

    def _require_fallback(self, model: str) -> str:
        fallback = self._fallback_model(model)
        if fallback is None:
            raise InputError(
                f"no fallback is configured for model {model} on serving instance {self.name}",
                hint=f"add fallbacks: {{{model}: {{model: <fallback model name>}}}} under "
                f"integrations.serving.{self.name}",
            )
        return fallback

    async def plan_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        fallback = self._require_fallback(model)
        index = await self._index()
        before = self._state(model, index)
        if fallback not in index:
            raise RejectedIntegrationError(
                f"{self._http.system}: fallback model {fallback} is not in the model repository",
                system=self._http.system,
                call=f"planning the fallback of {model}",
                status=404,
                hint="add its folder with model-settings.json to MLServer's model repository",
            )
        wanted: Mode = "fallback" if enabled else "primary"
        if before.mode == wanted:
            return ServingChange(
                before,
                before,
                f"{model} on {self.name} already serves its {wanted} model; nothing to do",
                before.details,
            )
        after = ServingState(
            model=model,
            mode=wanted,
            ready=True,
            details={**before.details, "serving": fallback if enabled else model},
        )
        load, unload = (fallback, model) if enabled else (model, fallback)
        return ServingChange(
            before,
            after,
            f"{model} on {self.name}: {before.mode} → {wanted} (load {load}, then unload {unload})",
            before.details,
        )

    async def set_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        plan = await self.plan_fallback(model, enabled=enabled)
        if not plan.changes:
            return plan
        fallback = self._require_fallback(model)
        load, unload = (fallback, model) if enabled else (model, fallback)
        await self._load(load)
        # Unload the other model only once the new one serves, so something always answers.
        await self._unload(unload)
        after = await self.state(model)
        return ServingChange(plan.before, after, plan.summary, after.details)

    # -- reload -----------------------------------------------------------------------------

    async def plan_reload(self, model: str) -> ServingChange:
        before = await self.state(model)
        primary = before.details["primary"]
        return ServingChange(
            before,
            before,
            f"reload {model} on {self.name} (now {primary['state']}); its URI is resolved "
            "again, e.g. an MLflow alias",
            before.details,
        )

    async def reload(self, model: str) -> ServingChange:
        plan = await self.plan_reload(model)
        await self._load(model)
        after = await self.state(model)
        return ServingChange(plan.before, after, plan.summary, after.details)

    # -- version ----------------------------------------------------------------------------

    async def served_version(self, served: ServedModel) -> ServedVersion:
        name = served.served_name
        index = await self._index()
        state = self._state(name, index)
        entry = index[name]
        if state.mode == "fallback":
            return ServedVersion(
                name,
                None,
                None,
                state.ready,
                f"{name} on {self.name} serves its fallback {state.details['serving']}",
            )
        version = str(entry["version"]) if entry.get("version") else None
        said = f"version {version}, " if version else ""
        follows = f"; its URI follows alias {served.alias}" if served.alias and not version else ""
        return ServedVersion(
            name,
            version,
            None,
            entry.get("state") == READY,
            f"MLServer {self.name}: {name} {said}{entry.get('state')}{follows}",
        )

    async def serve_version(self, served: ServedModel, version: str, uri: str) -> ServedVersion:
        name = served.served_name
        if served.alias is None:
            raise InputError(
                f"MLServer {self.name} loads the URI of {name}'s model settings: the bot cannot point "
                "it at another version",
                hint=f"serve models:/{served.model}@<alias> and set alias under serves for {name}",
            )
        if (await self.state(name)).mode == "fallback":
            raise InputError(
                f"{name} on {self.name} serves its fallback model; turn the fallback off first "
                "(serving.disable_fallback)"
            )
        await self._load(name)  # a fresh copy: the alias is resolved again
        return await self.served_version(served)

    # -- rollback belongs to the registry ----------------------------------------------------

    async def plan_rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        raise unsupported(self, "rollback")

    async def rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        raise unsupported(self, "rollback")

    # -- model repository calls -------------------------------------------------------------

    async def _load(self, model: str) -> None:
        call = f"loading model {model}"
        response = await self._http.request(
            "POST",
            _repository_path(model, "load"),
            call=call,
            idempotent=False,
            ok_statuses=tuple(range(400, 600)),
        )
        status = response.status_code
        if status == 404:
            raise RejectedIntegrationError(
                f"{self._http.system}: model {model} is not in the model repository",
                system=self._http.system,
                call=call,
                status=status,
                hint="add its folder with model-settings.json to MLServer's model repository",
            )
        if status >= 400:
            # MLServer answers a failing load with a plain-text traceback: its last line
            # names the error.
            error_class = RetryableIntegrationError if status >= 500 else RejectedIntegrationError
            raise error_class(
                f"{self._http.system}: {status} on {call}: {_last_line(response.text)}",
                system=self._http.system,
                call=call,
                status=status,
                hint="check MLServer's log for the model's load error",
            )
        ready = await self._http.request(
            "GET",
            _ready_path(model),
            call=f"checking that {model} is ready",
            ok_statuses=(400, 404),
        )
        if ready.status_code != 200:
            raise IntegrationError(
                f"{self._http.system}: model {model} loaded but is not ready (HTTP {ready.status_code})",
                system=self._http.system,
                call=call,
                status=ready.status_code,
                hint="check MLServer's log for the model's load error",
            )

    async def _unload(self, model: str) -> None:
        # 404: not loaded, which is where we want it.
        await self._http.request(
            "POST",
            _repository_path(model, "unload"),
            call=f"unloading model {model}",
            idempotent=True,
            ok_statuses=(404,),
        )


def _ready_path(model: str) -> str:
    return f"/v2/models/{quote(model, safe='')}/ready"


def _repository_path(model: str, verb: str) -> str:
    return f"/v2/repository/models/{quote(model, safe='')}/{verb}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no error message"
    try:
        body = json.loads(text)
    except ValueError:
        return lines[-1][:300]
    return str(body.get("error") if isinstance(body, dict) else body)[:300]


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in ("name", "version", "state", "reason")}
