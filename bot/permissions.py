"""Who may do what: configurable lists of principals per guarded action.

A principal is a chat user id (``U123``), a user group (``@ml-oncall``, resolved through a
``GroupResolver`` supplied by the chat layer), an incident role (``role:commander``), an
API token (``token:<name>``) or ``*`` for anyone. Deny by default: an empty list allows no
one. Refusals are the caller's to audit (they know the door).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.auth.actor import Actor
from bot.errors import PermissionDeniedError


class Guarded(StrEnum):
    CHANGE_SEVERITY = "change_severity"
    RESOLVE = "resolve"
    RUN_RUNBOOKS = "run_runbooks"
    APPROVE_RUNBOOKS = "approve_runbooks"


class PermissionSettings(BaseModel):
    """The ``permissions:`` config section."""

    model_config = ConfigDict(extra="forbid")

    change_severity: list[str] = Field(default_factory=lambda: ["*"])
    resolve: list[str] = Field(default_factory=lambda: ["*"])
    #: Who may start runbooks that change systems (dry-runs are open to anyone).
    run_runbooks: list[str] = Field(default_factory=lambda: ["role:commander", "role:operations"])
    #: Who may approve runbook runs (on top of each runbook's own approval policy).
    approve_runbooks: list[str] = Field(default_factory=lambda: ["role:commander"])


class GroupResolver(Protocol):
    async def members(self, group: str) -> set[str]: ...


class NoGroups:
    """Resolver used when no chat is configured: groups have no members."""

    async def members(self, group: str) -> set[str]:
        return set()


async def is_allowed(
    actor: Actor,
    principals: Iterable[str],
    *,
    roles_held: Iterable[str] = (),
    groups: GroupResolver | None = None,
) -> bool:
    """True when ``actor`` matches one of ``principals``. The bot itself always may; an API
    token is matched like a person (``*``, its id ``token:<name>``, a role assigned to that id),
    so a runbook's ``run_by`` and approvers bind automation as they bind people."""
    if actor.kind == "system":
        return True
    held = set(roles_held)
    for principal in principals:
        if principal == "*" or principal == actor.id:
            return True
        if principal.startswith("role:") and principal[5:] in held:
            return True
        if principal.startswith("@") and groups is not None and actor.id in await groups.members(principal):
            return True
    return False


async def require(
    actor: Actor,
    action: Guarded,
    settings: PermissionSettings,
    *,
    roles_held: Iterable[str] = (),
    groups: GroupResolver | None = None,
) -> None:
    principals = getattr(settings, action.value)
    if not await is_allowed(actor, principals, roles_held=roles_held, groups=groups):
        raise PermissionDeniedError(
            f"{actor.label} may not {action.value.replace('_', ' ')}",
            hint=f"allowed: {', '.join(principals) or 'no one (configure permissions.' + action.value + ')'}",
        )
