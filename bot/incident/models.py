"""Tables of the incident domain: incidents, role assignments, timeline events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, text
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow
from bot.incident.domain import Severity, Status, format_ref


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_status_severity", "status", "severity"),
        Index("ix_incident_declared_at", "declared_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(300), nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    severity: str = Field(default=Severity.SEV3.value, max_length=8)
    status: str = Field(default=Status.TRIGGERED.value, max_length=20)
    models: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    services: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: "manual" when a person declared it, "alert" when alerts opened it.
    origin: str = Field(default="manual", max_length=20)
    declared_by: str = Field(default="", max_length=200)
    #: Who to bring in (chat user ids, @user-groups, emails), from the routing rule.
    responders: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    #: Channel to announce the incident in (routing rule), besides the broadcast channel.
    notify_channel: str | None = Field(default=None, max_length=100)
    #: Runbooks the routing rule suggests (runbook `when:` matchers add more at read time).
    suggested_runbooks: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    chat_channel_id: str | None = Field(default=None, max_length=100)
    chat_channel_name: str | None = Field(default=None, max_length=100)
    #: Incremented on every change: cheap change detection for cards and caches.
    revision: int = Field(default=0, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    detected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    declared_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    mitigated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    @property
    def ref(self) -> str:
        assert self.id is not None, "incident not flushed yet"
        return format_ref(self.id)


class RoleAssignment(SQLModel, table=True):
    """Who holds a role; a hand-over relieves the previous holder (history kept)."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        # One current holder per role and incident, enforced by the database.
        Index(
            "uq_role_assignment_current",
            "incident_id",
            "role",
            unique=True,
            sqlite_where=text("relieved_at IS NULL"),
            postgresql_where=text("relieved_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    role: str = Field(max_length=20)
    assignee: str = Field(max_length=200)
    assigned_by: str = Field(max_length=200)
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    relieved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    relieved_by: str | None = Field(default=None, max_length=200)


class TimelineEvent(SQLModel, table=True):
    """Append-only: the database refuses UPDATE and DELETE (see the migration's triggers)."""

    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_event_incident_at", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    kind: str = Field(max_length=50, index=True)
    #: The actor's display label, and its stable principal id (NULL on events written before
    #: principals existed).
    actor: str = Field(max_length=200)
    actor_id: str | None = Field(default=None, max_length=200)
    interface: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
