"""The ``permissions:`` config section: who may do what (lists of principals per action).

A principal in a list is one of:

- ``*``: anyone: every person, and API tokens (never the bot's approval: see below);
- a person: their id from ``people:``, or a Slack user id, e-mail or CLI login (a handle of a
  configured person names that person; an unlisted Slack id or login names that user);
- ``token:<name>``: an API token no person claims;
- ``@group``: members of a group from ``groups:`` (or ``runbooks.approver_groups``), and of the
  chat's user group of that handle;
- ``role:<role>``: whoever holds that role on the incident in question;
- ``responders``: people named in the incident's responders (routing rule, declare form);
- ``admins``: the principals of ``permissions.admins``.

Deny by default: an empty list allows no one. ``bot.authz.policy`` decides; docs/permissions.md
has the table of actions, defaults and the fixed rules (roles and approvals are people's).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

_STEWARDS = ["role:commander", "responders", "admins"]


def _principal_list(value: list[str]) -> list[str]:
    for principal in value:
        text = principal.strip()
        if not text or text != principal or text in ("role:", "@", "token:"):
            raise ValueError(f"{principal!r} is not a principal")
    return value


class PermissionSettings(BaseModel):
    """The ``permissions:`` config section (defaults are the safe ones: docs/permissions.md)."""

    model_config = ConfigDict(extra="forbid")

    #: People trusted with every incident (``admins`` in the lists below).
    admins: list[str] = Field(default_factory=list)
    declare: list[str] = Field(default_factory=lambda: ["*"])
    acknowledge: list[str] = Field(default_factory=lambda: ["*"])
    add_notes: list[str] = Field(default_factory=lambda: ["*"])
    #: Title and summary.
    edit: list[str] = Field(default_factory=lambda: ["*"])
    #: Moves between open statuses (investigating, identified, mitigated) and reopening.
    change_status: list[str] = Field(default_factory=lambda: ["*"])
    change_severity: list[str] = Field(default_factory=lambda: list(_STEWARDS))
    #: Resolve and close.
    resolve: list[str] = Field(default_factory=lambda: list(_STEWARDS))
    #: Give any role to any person, or hand one over.
    assign_roles: list[str] = Field(default_factory=lambda: ["role:commander", "admins"])
    #: Take a role that nobody holds, for oneself (people only).
    take_empty_roles: list[str] = Field(default_factory=lambda: ["responders"])
    dry_run_runbooks: list[str] = Field(default_factory=lambda: ["*"])
    #: Who may start runbooks that change systems; a runbook's ``run_by`` replaces it.
    run_runbooks: list[str] = Field(default_factory=lambda: ["role:commander", "role:operations"])
    #: Who may approve runs (people only); a runbook's ``approval.approvers`` replaces it.
    approve_runbooks: list[str] = Field(default_factory=lambda: ["role:commander"])
    #: Runbooks (names or globs) whose ``none`` approval level and ``four_eyes: false`` take
    #: effect. Any other run that changes something needs an approval by a second person.
    runs_without_approval: list[str] = Field(default_factory=list)
    silence_alerts: list[str] = Field(default_factory=lambda: ["*"])
    retry_chat: list[str] = Field(default_factory=lambda: ["*"])
    read_audit: list[str] = Field(default_factory=lambda: ["*"])
    #: Create and revoke API tokens (a token that acts for a person: only that person).
    manage_tokens: list[str] = Field(default_factory=lambda: ["*"])

    @field_validator(
        "admins",
        "declare",
        "acknowledge",
        "add_notes",
        "edit",
        "change_status",
        "change_severity",
        "resolve",
        "assign_roles",
        "take_empty_roles",
        "dry_run_runbooks",
        "run_runbooks",
        "approve_runbooks",
        "silence_alerts",
        "retry_chat",
        "read_audit",
        "manage_tokens",
    )
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _principal_list(value)

    @field_validator("admins")
    @classmethod
    def _no_recursion(cls, value: list[str]) -> list[str]:
        if "admins" in value or "*" in value:
            raise ValueError("admins lists people and groups (not admins or *)")
        return value


class GroupResolver(Protocol):
    async def members(self, group: str) -> set[str]: ...


class NoGroups:
    """Resolver used when no chat is configured: groups have no members."""

    async def members(self, group: str) -> set[str]:
        return set()
