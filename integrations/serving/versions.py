"""``serving.ensure_version``: every serving layer configured for a registered model serves a
given version, as the layers themselves report it.

Which layers: those whose ``serves:`` names the model (or the one ``instance``). Per layer:

- one that follows a registry alias (MLServer with ``models:/NAME@champion``, ``alias`` under
  ``serves``) is reloaded once the alias points at the version (it refuses otherwise: move the
  alias first). Its API does not say which version an alias URI resolved to, so the alias is
  read before and after the load; ``from_version`` says what it served before (the runbook
  passes the version the alias moved away from);
- one pointed at a URI (KServe ``storageUri``, an HTTP router) is given the version's URI
  (``uri`` under ``serves``, default the version's source in the registry); the URI it reports
  is mapped back to a version.

Then it waits until each layer reports the version ready. Its inverse serves the version
served before; as it follows what earlier steps set (the alias), the engine undoes it after
them (``undo_last``): the alias is restored first, then the layers reload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from bot.errors import ConflictError, InputError, RejectedIntegrationError
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
    pick_instance,
)
from integrations.registry.actions import VersionNumber
from integrations.registry.protocol import READY, ModelRegistry, ModelVersion
from integrations.serving.config import ServedModel
from integrations.serving.protocol import ServedVersion, ServingLayer, unsupported

ENSURE_VERSION = "serving.ensure_version"


class EnsureVersionParams(ActionParams):
    #: The registered model (its name in the registry).
    model: str = Field(min_length=1)
    #: The version every layer serving the model must serve.
    version: VersionNumber
    #: One serving instance; default: every instance whose ``serves`` names the model.
    instance: str | None = None
    #: What the layers served before, for those that cannot tell (alias followers).
    from_version: VersionNumber | None = None
    #: How long a layer may take to report the version ready.
    timeout_s: float = Field(120.0, gt=0, le=1800)
    interval_s: float = Field(2.0, gt=0, le=60)


@dataclass(frozen=True)
class _Layer:
    layer: ServingLayer
    served: ServedModel

    @property
    def key(self) -> str:
        return f"{self.layer.name}/{self.served.served_name}"

    @property
    def target(self) -> str:
        return f"serving:{self.key}"


@dataclass(frozen=True)
class _Reading:
    """One layer now: the version it serves (None: it cannot tell) and how we know."""

    version: str | None
    said: ServedVersion


class EnsureVersion(BaseAction[EnsureVersionParams]):
    name = ENSURE_VERSION
    description = (
        "Make every serving layer configured for a registered model serve a version (reload "
        "alias followers, point the others at the version's URI) and check it through each "
        "layer's own API."
    )
    params_model = EnsureVersionParams
    mutating = True
    undo_last = True

    def __init__(
        self, instances: Mapping[str, ServingLayer], registries: Mapping[str, ModelRegistry]
    ) -> None:
        self._instances = dict(instances)
        self._registries = dict(registries)

    # -- which layers -----------------------------------------------------------------------

    def _layers(self, params: EnsureVersionParams) -> list[_Layer]:
        if params.instance is not None:
            candidates = [pick_instance(self._instances, params.instance, "serving")]
        else:
            candidates = [self._instances[n] for n in sorted(self._instances)]
        found = [_Layer(layer, s) for layer in candidates for s in layer.serves if s.model == params.model]
        if not found and params.instance is not None:
            raise InputError(
                f"serving instance {params.instance} does not serve registered model {params.model!r} "
                "(nothing under its serves names it)",
                hint=f"add serves: [{{model: {params.model}}}] under integrations.serving.{params.instance}",
            )
        for item in found:
            if "version" not in item.layer.capabilities:
                raise unsupported(item.layer, "version")
        return found

    def target(self, params: EnsureVersionParams) -> str:
        return ", ".join(item.target for item in self._layers(params)) or f"serving:(none)/{params.model}"

    def lock_targets(self, params: EnsureVersionParams) -> list[str]:
        return [item.target for item in self._layers(params)]

    def _registry(self, served: ServedModel) -> ModelRegistry:
        return pick_instance(self._registries, served.registry, "registries")

    # -- reading ----------------------------------------------------------------------------

    async def _read(self, item: _Layer, versions: list[ModelVersion]) -> _Reading:
        said = await item.layer.served_version(item.served)
        if said.version is not None:
            return _Reading(said.version, said)
        if said.uri is not None:
            for v in versions:
                if item.served.uri_for(v.version, v.source) == said.uri:
                    return _Reading(v.version, said)
        return _Reading(None, said)

    async def _alias_version(self, item: _Layer, ctx: ActionContext) -> str | None:
        assert item.served.alias is not None
        registry = self._registry(item.served)
        planned = ctx.planned.get(f"registry:{registry.name}/{item.served.model}@{item.served.alias}")
        if planned is not None:  # a dry-run: an earlier step moves the alias
            return None if planned.get("version") is None else str(planned["version"])
        current = await registry.get_alias(item.served.model, item.served.alias)
        return current.version if current else None

    async def _require_alias(self, item: _Layer, version: str, ctx: ActionContext) -> None:
        points_to = await self._alias_version(item, ctx)
        if points_to != version:
            raise ConflictError(
                f"{item.key} loads {item.served.model}@{item.served.alias}, which points to "
                f"v{points_to or '(unset)'}, not v{version}: reloading would not serve v{version}",
                hint="move the alias first (registry.set_alias or registry.rollback_alias)",
                target=item.target,
            )

    async def _wanted(
        self, params: EnsureVersionParams, items: list[_Layer]
    ) -> tuple[ModelVersion, list[ModelVersion]]:
        registry = self._registry(items[0].served)
        versions = await registry.search_versions(params.model)
        wanted = next((v for v in versions if v.version == params.version), None)
        if wanted is None:
            wanted = await registry.get_version(params.model, params.version)  # names the 404
        if wanted.status != READY:
            raise RejectedIntegrationError(
                f"version {wanted.version} of {params.model} is {wanted.status}, not {READY}",
                system=registry.name,
                call=f"serving v{wanted.version} of {params.model}",
            )
        return wanted, versions

    # -- plan / apply -----------------------------------------------------------------------

    def _nothing(self, params: EnsureVersionParams) -> str:
        return (
            f"no serving layer is configured for {params.model} (serves: under integrations.serving): "
            "nothing to reload"
        )

    async def plan(self, params: EnsureVersionParams, ctx: ActionContext) -> Plan:
        items = self._layers(params)
        if not items:
            return Plan(self.target(params), {"served": {}}, {"served": {}}, self._nothing(params))
        wanted, versions = await self._wanted(params, items)
        current: dict[str, str | None] = {}
        lines, layers = [], {}
        for item in items:
            reading = await self._read(item, versions)
            now = reading.version or params.from_version
            current[item.key] = now
            how = f"reload (follows alias {item.served.alias})" if item.served.alias else "load its URI"
            if item.served.alias:
                await self._require_alias(item, wanted.version, ctx)
            lines.append(
                f"{item.key}: v{now or '?'} → v{wanted.version}"
                + ("" if now == wanted.version else f", {how}")
            )
            layers[item.key] = _describe(item, reading, wanted)
        summary = f"{params.model} served: " + "; ".join(lines)
        return Plan(
            self.target(params),
            {"served": current},
            {"served": {key: wanted.version for key in current}},
            summary,
            {"version": wanted.describe(), "layers": layers},
        )

    async def apply(self, params: EnsureVersionParams, ctx: ActionContext) -> ActionResult:
        items = self._layers(params)
        if not items:
            return ActionResult(self.target(params), {"served": {}}, {"served": {}}, self._nothing(params))
        wanted, versions = await self._wanted(params, items)
        before: dict[str, str | None] = {}
        layers, lines = {}, []
        for item in items:
            reading = await self._read(item, versions)
            before[item.key] = reading.version or params.from_version
            if item.served.alias:
                await self._require_alias(item, wanted.version, ctx)
            elif reading.version == wanted.version and reading.said.ready is not False:
                layers[item.key] = _describe(item, reading, wanted)
                lines.append(f"{item.key}: already v{wanted.version}")
                continue
            uri = item.served.uri_for(wanted.version, wanted.source)
            await item.layer.serve_version(item.served, wanted.version, uri)
            reading = await self._until_served(item, wanted.version, versions, params)
            if item.served.alias:  # what the reload resolved: the alias did not move meanwhile
                await self._require_alias(item, wanted.version, ctx)
            layers[item.key] = _describe(item, reading, wanted)
            lines.append(f"{item.key}: v{before[item.key] or '?'} → v{wanted.version}")
        return ActionResult(
            self.target(params),
            {"served": before},
            {"served": {key: wanted.version for key in before}},
            f"{params.model} served: " + "; ".join(lines),
            {"version": wanted.describe(), "layers": layers},
        )

    async def _until_served(
        self, item: _Layer, version: str, versions: list[ModelVersion], params: EnsureVersionParams
    ) -> _Reading:
        deadline = time.monotonic() + params.timeout_s
        while True:
            reading = await self._read(item, versions)
            # A layer that cannot tell the version (an alias follower) shows readiness only.
            right = reading.version in (version, None) if item.served.alias else reading.version == version
            if right and reading.said.ready is not False:
                return reading
            if time.monotonic() + params.interval_s > deadline:
                raise RejectedIntegrationError(
                    f"{item.key} does not serve v{version} after {params.timeout_s:g}s: "
                    f"{reading.said.evidence}",
                    system=item.layer.name,
                    call=f"serving v{version} of {item.served.model}",
                    hint="check the serving layer's status and logs; raise timeout_s for slow rollouts",
                )
            await asyncio.sleep(params.interval_s)

    def inverse(self, params: EnsureVersionParams, before: dict[str, Any]) -> Invocation | None:
        served = [str(v) for v in (before.get("served") or {}).values() if v]
        if not served or served[0] == params.version:
            return None
        body = params.model_dump(exclude_none=True)
        return Invocation(self.name, {**body, "version": served[0], "from_version": params.version})


def _describe(item: _Layer, reading: _Reading, wanted: ModelVersion) -> dict[str, Any]:
    return {
        "instance": item.layer.name,
        "name": item.served.served_name,
        "follows_alias": item.served.alias,
        "version": reading.version,
        "uri": reading.said.uri,
        "ready": reading.said.ready,
        "evidence": reading.said.evidence,
        "wanted_uri": None if item.served.alias else item.served.uri_for(wanted.version, wanted.source),
    }
