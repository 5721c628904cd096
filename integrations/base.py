"""The action protocol every integration implements, and the registry that holds actions.

An action is what a runbook step calls. It has a pydantic params model and three operations:

- ``plan(params, ctx)``: read-only; the current state, the intended state and a one-line
  summary such as "alias champion of fraud-model: v7 → v6".
- ``apply(params, ctx)``: set the resource to the target (never toggle), idempotent, and
  return the state before and after.
- ``inverse(params, before)``: the invocation that puts ``before`` back, for undo; ``None``
  when there is nothing to undo (read-only actions, waits, messages).

Two kinds of action (``kind``): a *change* sets something that stays set (an alias, a pause
flag), so a call whose outcome is unknown after an interruption is applied again only when its
plan says the target is not reached. An *observation* (a wait, a metric condition held for a
window, a health check) is not state: it is observed fully every time it runs, after a crash or
a restart too, and is never "already in place".

Actions are registered explicitly in an :class:`ActionRegistry` instance; a duplicate name is
an error. The runbook engine knows no action by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.errors import ConfigError, InputError

P = TypeVar("P", bound=BaseModel)


class ActionKind(StrEnum):
    #: Sets a resource to a target; idempotent; applied again only when not in place.
    CHANGE = "change"
    #: Waits or checks; observed fully on every run of the step, never "already in place".
    OBSERVATION = "observation"


class ActionParams(BaseModel):
    """Base for action parameter models: unknown keys are errors, so typos surface early."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ActionContext:
    """Who and what an action runs for; actions use it for messages, tags and logs.

    ``actor`` is on whose behalf this call runs: the requester of the run, or for an undo the
    person who asked for it. ``requested_by`` names the run's requester, ``approved_by`` the
    people who approved what this call carries out (the run, or its undo). In a dry-run,
    ``planned`` holds the state earlier steps intend, by target, so a check plans against what
    it will find rather than what is there now.
    """

    incident_ref: str | None = None
    run_ref: str | None = None
    step_id: str | None = None
    actor: str = "system"
    dry_run: bool = False
    requested_by: str | None = None
    approved_by: tuple[str, ...] = ()
    planned: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Result of a read-only plan: what is there now and what apply would make of it."""

    target: str
    current: dict[str, Any]
    intended: dict[str, Any]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return self.current != self.intended


@dataclass(frozen=True)
class ActionResult:
    """What apply did: the state before and after, and whether it changed anything."""

    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Invocation:
    """An action call by name, e.g. the inverse of a step."""

    action: str
    params: dict[str, Any]


@runtime_checkable
class Action(Protocol[P]):
    """A typed, registered runbook action."""

    name: str
    description: str
    params_model: type[P]
    #: True when apply changes an external system (approval policies look at it).
    mutating: bool
    #: A change, or an observation (see the module docstring).
    kind: ActionKind
    #: True when apply brings something in line with what earlier steps set (a serving layer
    #: reloading the version a registry alias points to): on undo, its inverse runs after the
    #: inverses of the earlier steps, once what it follows is restored.
    undo_last: bool

    def target(self, params: P) -> str:
        """The resource this call changes, e.g. ``mlflow:prod/models/fraud@champion``."""
        ...

    def lock_targets(self, params: P) -> list[str]:
        """The resources the engine locks for this call (one active run per target, enforced
        in the database): ``[target]`` unless the call changes several resources."""
        ...

    async def plan(self, params: P, ctx: ActionContext) -> Plan: ...

    async def apply(self, params: P, ctx: ActionContext) -> ActionResult: ...

    def inverse(self, params: P, before: dict[str, Any]) -> Invocation | None: ...


class ActionRegistry:
    """Explicit registry of actions. No scanning, no name magic."""

    def __init__(self) -> None:
        self._actions: dict[str, Action[Any]] = {}

    def register(self, action: Action[Any]) -> None:
        if action.kind == ActionKind.OBSERVATION and action.mutating:
            raise ConfigError(
                f"action {action.name!r} is an observation and cannot change anything",
                hint="an observation waits or checks; make it a change (kind) or not mutating",
            )
        if action.name in self._actions:
            raise ConfigError(
                f"action {action.name!r} is registered twice",
                hint="two integrations or two instances claim the same action name",
            )
        self._actions[action.name] = action

    def get(self, name: str) -> Action[Any]:
        try:
            return self._actions[name]
        except KeyError:
            known = ", ".join(sorted(self._actions)) or "none"
            raise InputError(f"unknown action {name!r}", hint=f"registered actions: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[Action[Any]]:
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def names(self) -> list[str]:
        return sorted(self._actions)


class BaseAction(Generic[P]):
    """Convenience base for actions: parse params and describe themselves.

    Subclasses set ``name``, ``description``, ``params_model``, ``mutating`` (and ``kind`` for
    an observation) and implement
    ``target``, ``plan``, ``apply`` and (when undoable) ``inverse``.
    """

    name: str
    description: str
    params_model: type[P]
    mutating: bool = True
    kind: ActionKind = ActionKind.CHANGE
    undo_last: bool = False

    def parse(self, raw: dict[str, Any]) -> P:
        return self.params_model.model_validate(raw)

    def target(self, params: P) -> str:
        raise NotImplementedError

    def lock_targets(self, params: P) -> list[str]:
        return [self.target(params)]

    def inverse(self, params: P, before: dict[str, Any]) -> Invocation | None:
        return None


@dataclass(frozen=True)
class CheckResult:
    """Outcome of `incident-bot integrations check` for one configured instance."""

    name: str
    kind: str
    url: str
    reachable: bool
    authenticated: bool | None = None
    version: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.reachable and self.authenticated is not False and self.error is None


@runtime_checkable
class Instance(Protocol):
    """A configured instance of an external system (one MLflow, one Airflow...)."""

    name: str
    kind: str

    async def check(self) -> CheckResult: ...

    async def aclose(self) -> None: ...


InstanceT = TypeVar("InstanceT")


def pick_instance(instances: dict[str, InstanceT], name: str | None, what: str) -> InstanceT:
    """The instance named ``name``, or the only one configured when ``name`` is None."""
    if name is None:
        if len(instances) == 1:
            return next(iter(instances.values()))
        if not instances:
            raise InputError(
                f"no {what} is configured",
                hint=f"add one under integrations.{what} in the config file",
            )
        raise InputError(
            f"several {what} instances are configured; say which with `instance`",
            hint=f"configured: {', '.join(sorted(instances))}",
        )
    try:
        return instances[name]
    except KeyError:
        raise InputError(
            f"unknown {what} instance {name!r}",
            hint=f"configured: {', '.join(sorted(instances)) or 'none'}",
        ) from None
