"""What the reminder scheduler has fired: one row per occurrence, unique by key.

Timers are derived from incident rows plus these; the unique ``key`` of each occurrence
makes firing idempotent across restarts and replicas (the second insert loses).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow


class ReminderKind(StrEnum):
    STATUS_UPDATE = "status_update"
    COMMANDER_NUDGE = "commander_nudge"
    ESCALATION = "escalation"


class PageStatus(StrEnum):
    """Delivery of the paging webhook call of an escalation."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: Failed too often; logged and counted.
    GAVE_UP = "gave_up"


class Reminder(SQLModel, table=True):
    __tablename__ = "reminder"
    __table_args__ = (Index("ix_reminder_incident_kind", "incident_id", "kind", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    kind: str = Field(max_length=30)
    #: e.g. ``status_update:42:3`` (the third one of INC-42): the occurrence's identity.
    key: str = Field(max_length=200, unique=True)
    #: When it was due by the rules, and when it was actually fired.
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    outbox_message_id: int | None = Field(default=None)
    #: Paging webhook delivery (escalations only).
    page_status: str | None = Field(default=None, max_length=10)
    #: The JSON body decided at escalation time (sent again as is on retries).
    page_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    page_attempts: int = Field(default=0, nullable=False)
    page_next_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    page_error: str | None = Field(default=None, sa_column=Column(Text))
    paged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
