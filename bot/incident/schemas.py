"""Typed inputs and outputs of the incident service, shared by every door (REST, CLI, chat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.incident.domain import Role, Severity, Status

_LABEL_KEY = r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IncidentCreate(_Strict):
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = Severity.SEV3
    summary: str = Field("", max_length=20_000)
    models: list[str] = Field(default_factory=list, max_length=50)
    services: list[str] = Field(default_factory=list, max_length=50)
    labels: dict[str, str] = Field(default_factory=dict)
    responders: list[str] = Field(default_factory=list, max_length=100)
    notify_channel: str | None = Field(None, max_length=100)
    suggested_runbooks: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for key in value:
            if not re.match(_LABEL_KEY, key):
                raise ValueError(f"label name {key!r} is not valid (letters, digits, _ . - /)")
        return value


class IncidentUpdate(_Strict):
    title: str | None = Field(None, min_length=1, max_length=300)
    summary: str | None = Field(None, max_length=20_000)
    severity: Severity | None = None
    status: Status | None = None
    #: Why (recorded on the timeline with a status or severity change).
    reason: str | None = Field(None, max_length=2000)


class RoleAssign(_Strict):
    role: Role
    assignee: str = Field(min_length=1, max_length=200)


class NoteCreate(_Strict):
    text: str = Field(min_length=1, max_length=20_000)


class IncidentQuery(_Strict):
    status: list[Status] = Field(default_factory=list)
    severity: list[Severity] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False
    limit: int = Field(50, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


class RoleHolder(BaseModel):
    role: Role
    assignee: str
    assigned_at: datetime
    assigned_by: str


class IncidentOut(BaseModel):
    ref: str
    title: str
    summary: str
    severity: Severity
    status: Status
    models: list[str]
    services: list[str]
    labels: dict[str, str]
    origin: str
    declared_by: str
    responders: list[str]
    notify_channel: str | None
    suggested_runbooks: list[str]
    roles: dict[str, RoleHolder]
    chat_channel_id: str | None
    chat_channel_name: str | None
    created_at: datetime
    updated_at: datetime
    detected_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_transitions: list[Status]


class TimelineEventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    #: Who, as people read it (a name), and as the stable principal id (None on old events).
    actor: str
    actor_id: str | None = None
    interface: str
    text: str
    data: dict[str, Any]


class RoleChange(BaseModel):
    role: Role
    assignee: str
    previous: str | None
    changed: bool
