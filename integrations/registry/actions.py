"""Runbook actions on model aliases, for any `ModelRegistry`.

- ``registry.set_alias``: point an alias at a version (records alias history, see `history`).
- ``registry.rollback_alias``: point an alias back to the version it pointed to before, or
  else to the newest older validated version; refuses when there is none.
- ``registry.delete_alias``: remove an alias (the undo of setting one that did not exist).

Each apply sets to a target and is idempotent; each inverse restores the alias's ``before``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field

from bot.errors import ConflictError, RejectedIntegrationError
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
    pick_instance,
)
from integrations.registry.history import (
    AliasMove,
    choose_rollback,
    is_validated,
    moved_tag,
    previous_tag,
)
from integrations.registry.protocol import READY, ModelRegistry, ModelVersion

SET_ALIAS = "registry.set_alias"
ROLLBACK_ALIAS = "registry.rollback_alias"
DELETE_ALIAS = "registry.delete_alias"
#: How many older versions a rollback dry-run lists.
_SHOWN_CANDIDATES = 10


def _version_number(value: Any) -> Any:
    """Accept 7, "7" and "v7"; MLflow versions are positive integers sent as strings."""
    text = str(value).strip()
    text = text[1:] if text[:1] in ("v", "V") else text
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"a version is a positive number such as 7 or 'v7', got {value!r}")
    return str(int(text))


VersionNumber = Annotated[str, BeforeValidator(_version_number)]


class AliasParams(ActionParams):
    instance: str | None = None
    model: str = Field(min_length=1)
    alias: str = Field(min_length=1)


class SetAliasParams(AliasParams):
    version: VersionNumber


class RollbackAliasParams(AliasParams):
    #: The version the alias is expected to point to now (from the approved plan). When the
    #: alias points elsewhere, apply refuses, unless it already sits where this rollback goes.
    from_version: VersionNumber | None = None
    #: Overrides the instance's ``validated_tag`` for this rollback.
    validated_tag: str | None = Field(None, min_length=1)


class DeleteAliasParams(AliasParams):
    pass


def _label(version: str | None) -> str:
    return f"v{version}" if version is not None else "(unset)"


def summary(params: AliasParams, before: str | None, after: str | None) -> str:
    head = f"alias {params.alias} of {params.model}"
    if before == after:
        return f"{head}: already {'at ' if after else ''}{_label(after)}"
    return f"{head}: {_label(before)} → {_label(after)}"


def _describe(version: ModelVersion | None) -> dict[str, Any] | None:
    return version.describe() if version is not None else None


def _candidate(version: ModelVersion, validated_tag: str) -> str:
    """``v6 (READY, validated, 2026-11-20)``: an older version a rollback could go to."""
    notes = [version.status]
    if is_validated(version, validated_tag):
        notes.append(validated_tag)
    notes.append(version.created_at.date().isoformat())
    return f"v{version.version} ({', '.join(notes)})"


def _require_ready(registry: ModelRegistry, version: ModelVersion, alias: str) -> None:
    if version.status != READY:
        raise RejectedIntegrationError(
            f"version {version.version} of model {version.name!r} is {version.status}, "
            f"not {READY}; alias {alias!r} cannot point at it",
            system=registry.name,
            call=f"moving alias {alias!r}",
            hint="wait for the registration to finish, or pick another version",
        )


PA = TypeVar("PA", bound=AliasParams)


class _AliasAction(BaseAction[PA]):
    mutating = True

    def __init__(self, instances: Mapping[str, ModelRegistry]) -> None:
        self._instances = dict(instances)

    def registry(self, params: AliasParams) -> ModelRegistry:
        return pick_instance(self._instances, params.instance, "registries")

    def target(self, params: PA) -> str:
        return f"registry:{self.registry(params).name}/{params.model}@{params.alias}"

    def _call(self, params: AliasParams, action: str, version: str | None) -> Invocation:
        body: dict[str, Any] = {
            "instance": self.registry(params).name,
            "model": params.model,
            "alias": params.alias,
        }
        if version is not None:
            body["version"] = version
        return Invocation(action, body)


class SetAliasAction(_AliasAction[SetAliasParams]):
    name = SET_ALIAS
    description = "Point a model alias (e.g. champion) at a version; records alias history."
    params_model = SetAliasParams

    async def _read(self, params: SetAliasParams) -> tuple[ModelRegistry, ModelVersion | None, ModelVersion]:
        registry = self.registry(params)
        current = await registry.get_alias(params.model, params.alias)
        wanted = await registry.get_version(params.model, params.version)
        _require_ready(registry, wanted, params.alias)
        return registry, current, wanted

    async def plan(self, params: SetAliasParams, ctx: ActionContext) -> Plan:
        _, current, wanted = await self._read(params)
        before = current.version if current else None
        return Plan(
            target=self.target(params),
            current={"version": before},
            intended={"version": wanted.version},
            summary=summary(params, before, wanted.version),
            details={"current": _describe(current), "target": wanted.describe()},
        )

    async def apply(self, params: SetAliasParams, ctx: ActionContext) -> ActionResult:
        registry, current, wanted = await self._read(params)
        before = current.version if current else None
        if before != wanted.version:
            # History first: if the alias move then fails, the alias is untouched and a
            # retry rewrites the same tags.
            if before is None:
                # A stale record from an earlier move must not steer a later rollback.
                await registry.delete_version_tag(params.model, wanted.version, previous_tag(params.alias))
            else:
                await registry.set_version_tag(
                    params.model, wanted.version, previous_tag(params.alias), before
                )
            await registry.set_version_tag(
                params.model,
                wanted.version,
                moved_tag(params.alias),
                AliasMove.now("set", before, ctx).to_tag(),
            )
            await registry.set_alias(params.model, params.alias, wanted.version)
        return ActionResult(
            target=self.target(params),
            before={"version": before},
            after={"version": wanted.version},
            summary=summary(params, before, wanted.version),
            details={"previous": _describe(current), "now": wanted.describe()},
        )

    def inverse(self, params: SetAliasParams, before: dict[str, Any]) -> Invocation | None:
        previous = before.get("version")
        if previous is None:
            return self._call(params, DELETE_ALIAS, None)
        return self._call(params, SET_ALIAS, str(previous))


@dataclass(frozen=True)
class _Rollback:
    current: ModelVersion
    target: ModelVersion
    reason: str
    older: list[ModelVersion]

    @property
    def done(self) -> bool:
        return self.current.version == self.target.version


class RollbackAliasAction(_AliasAction[RollbackAliasParams]):
    name = ROLLBACK_ALIAS
    description = (
        "Point a model alias back to the version it pointed to before, or else to the "
        "newest older version tagged as validated."
    )
    params_model = RollbackAliasParams

    async def _resolve(self, params: RollbackAliasParams, ctx: ActionContext) -> _Rollback:
        registry = self.registry(params)
        alias, model = params.alias, params.model
        validated_tag = params.validated_tag or registry.validated_tag
        versions = await registry.search_versions(model)
        current = next((v for v in versions if alias in v.aliases), None)
        call = f"rolling back alias {alias!r} of model {model!r}"
        if current is None:
            raise RejectedIntegrationError(
                f"alias {alias!r} of model {model!r} is not set; there is nothing to roll back",
                system=registry.name,
                call=call,
                hint=f"point it at a version with {SET_ALIAS}",
            )
        older = [v for v in versions if v.number < current.number][:_SHOWN_CANDIDATES]

        if params.from_version is not None and params.from_version != current.version:
            expected = next((v for v in versions if v.version == params.from_version), None)
            choice = choose_rollback(expected, versions, alias, validated_tag) if expected else None
            if choice is not None and choice.target.version == current.version:
                return _Rollback(current, current, f"already rolled back from v{params.from_version}", older)
            raise ConflictError(
                f"alias {alias!r} of model {model!r} points to v{current.version}, "
                f"not v{params.from_version} as the plan expected",
                hint="someone moved it meanwhile; plan again",
                target=self.target(params),
            )

        move = AliasMove.from_tag(current.tags.get(moved_tag(alias)))
        if move is not None and move.action == "rollback" and move.made_by(ctx):
            reason = f"already rolled back from v{move.from_version} by this step"
            return _Rollback(current, current, reason, older)

        choice = choose_rollback(current, versions, alias, validated_tag)
        if choice is None:
            raise RejectedIntegrationError(
                f"cannot roll back alias {alias!r} of model {model!r} from v{current.version}: "
                f"no alias history on v{current.version} and no older version tagged "
                f"{validated_tag}=true",
                system=registry.name,
                call=call,
                hint=f"tag a known-good version with {validated_tag}=true, or point the alias "
                f"at a version with {SET_ALIAS}",
            )
        return _Rollback(current, choice.target, choice.reason, older)

    def _details(self, rollback: _Rollback, validated_tag: str) -> dict[str, Any]:
        return {
            "current": rollback.current.describe(),
            "target": rollback.target.describe(),
            "reason": rollback.reason,
            "older_versions": [v.describe() for v in rollback.older],
            "candidates": [_candidate(v, validated_tag) for v in rollback.older],
        }

    async def plan(self, params: RollbackAliasParams, ctx: ActionContext) -> Plan:
        rollback = await self._resolve(params, ctx)
        return Plan(
            target=self.target(params),
            current={"version": rollback.current.version},
            intended={"version": rollback.target.version},
            summary=summary(params, rollback.current.version, rollback.target.version),
            details=self._details(rollback, self._validated_tag(params)),
        )

    def _validated_tag(self, params: RollbackAliasParams) -> str:
        return params.validated_tag or self.registry(params).validated_tag

    async def apply(self, params: RollbackAliasParams, ctx: ActionContext) -> ActionResult:
        rollback = await self._resolve(params, ctx)
        before, after = rollback.current.version, rollback.target.version
        if not rollback.done:
            registry = self.registry(params)
            # The move record goes first: should the process die after the alias moved,
            # re-applying this step finds it on the new version and stops there.
            await registry.set_version_tag(
                params.model,
                after,
                moved_tag(params.alias),
                AliasMove.now("rollback", before, ctx).to_tag(),
            )
            await registry.set_alias(params.model, params.alias, after)
        return ActionResult(
            target=self.target(params),
            before={"version": before},
            after={"version": after},
            summary=summary(params, before, after),
            details=self._details(rollback, self._validated_tag(params)),
        )

    def inverse(self, params: RollbackAliasParams, before: dict[str, Any]) -> Invocation | None:
        previous = before.get("version")
        return None if previous is None else self._call(params, SET_ALIAS, str(previous))


class DeleteAliasAction(_AliasAction[DeleteAliasParams]):
    name = DELETE_ALIAS
    description = "Remove a model alias."
    params_model = DeleteAliasParams

    async def plan(self, params: DeleteAliasParams, ctx: ActionContext) -> Plan:
        current = await self.registry(params).get_alias(params.model, params.alias)
        before = current.version if current else None
        return Plan(
            target=self.target(params),
            current={"version": before},
            intended={"version": None},
            summary=summary(params, before, None),
            details={"current": _describe(current)},
        )

    async def apply(self, params: DeleteAliasParams, ctx: ActionContext) -> ActionResult:
        registry = self.registry(params)
        current = await registry.get_alias(params.model, params.alias)
        if current is not None:
            await registry.delete_alias(params.model, params.alias)
        before = current.version if current else None
        return ActionResult(
            target=self.target(params),
            before={"version": before},
            after={"version": None},
            summary=summary(params, before, None),
            details={"previous": _describe(current)},
        )

    def inverse(self, params: DeleteAliasParams, before: dict[str, Any]) -> Invocation | None:
        previous = before.get("version")
        return None if previous is None else self._call(params, SET_ALIAS, str(previous))


def register_actions(registry: ActionRegistry, instances: Mapping[str, ModelRegistry]) -> None:
    """Register the alias actions, working on the configured registry ``instances``."""
    registry.register(SetAliasAction(instances))
    registry.register(RollbackAliasAction(instances))
    registry.register(DeleteAliasAction(instances))
