"""The guarded actions: each names the ``permissions:`` list that says who may do it."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    DECLARE = "incident.declare"
    ACKNOWLEDGE = "incident.acknowledge"
    NOTE = "incident.note"
    EDIT = "incident.edit"
    CHANGE_STATUS = "incident.change_status"
    CHANGE_SEVERITY = "incident.change_severity"
    RESOLVE = "incident.resolve"
    CLOSE = "incident.close"
    ASSIGN_ROLE = "incident.assign_role"
    DRY_RUN = "runbook.dry_run"
    RUN = "runbook.run"
    APPROVE = "runbook.approve"
    DENY = "runbook.deny"
    CANCEL = "runbook.cancel"
    UNDO = "runbook.undo"
    SILENCE_CREATE = "silence.create"
    SILENCE_EXPIRE = "silence.expire"
    TOKEN_CREATE = "token.create"  # noqa: S105  (an action name)
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    CHAT_RETRY = "chat.retry"
    AUDIT_READ = "audit.read"

    @property
    def setting(self) -> str:
        """The ``permissions:`` field with the principals allowed by default."""
        return _SETTINGS[self]

    @property
    def verb(self) -> str:
        return _VERBS[self]


_SETTINGS = {
    Action.DECLARE: "declare",
    Action.ACKNOWLEDGE: "acknowledge",
    Action.NOTE: "add_notes",
    Action.EDIT: "edit",
    Action.CHANGE_STATUS: "change_status",
    Action.CHANGE_SEVERITY: "change_severity",
    Action.RESOLVE: "resolve",
    Action.CLOSE: "resolve",
    Action.ASSIGN_ROLE: "assign_roles",
    Action.DRY_RUN: "dry_run_runbooks",
    Action.RUN: "run_runbooks",
    Action.APPROVE: "approve_runbooks",
    Action.DENY: "approve_runbooks",
    Action.CANCEL: "run_runbooks",
    Action.UNDO: "run_runbooks",
    Action.SILENCE_CREATE: "silence_alerts",
    Action.SILENCE_EXPIRE: "silence_alerts",
    Action.TOKEN_CREATE: "manage_tokens",
    Action.TOKEN_REVOKE: "manage_tokens",
    Action.CHAT_RETRY: "retry_chat",
    Action.AUDIT_READ: "read_audit",
}

_VERBS = {
    Action.DECLARE: "declare incidents",
    Action.ACKNOWLEDGE: "acknowledge",
    Action.NOTE: "add notes to",
    Action.EDIT: "edit",
    Action.CHANGE_STATUS: "change the status of",
    Action.CHANGE_SEVERITY: "change the severity of",
    Action.RESOLVE: "resolve",
    Action.CLOSE: "close",
    Action.ASSIGN_ROLE: "assign roles on",
    Action.DRY_RUN: "dry-run",
    Action.RUN: "run",
    Action.APPROVE: "approve",
    Action.DENY: "deny",
    Action.CANCEL: "cancel",
    Action.UNDO: "undo",
    Action.SILENCE_CREATE: "create silences",
    Action.SILENCE_EXPIRE: "expire",
    Action.TOKEN_CREATE: "create API tokens",
    Action.TOKEN_REVOKE: "revoke",
    Action.CHAT_RETRY: "retry chat messages",
    Action.AUDIT_READ: "read the audit log",
}

#: What the bot's own automation never does: approvals and denials are people's decisions.
NOT_FOR_THE_BOT = frozenset({Action.APPROVE, Action.DENY})
