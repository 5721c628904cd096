"""The audit log table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=True))
    actor: str = Field(max_length=200)
    #: person | token | system
    actor_kind: str = Field(max_length=20)
    #: slack | api | cli | system
    interface: str = Field(max_length=20)
    action: str = Field(max_length=100)
    target_type: str = Field(max_length=50)
    target_id: str = Field(max_length=200)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
