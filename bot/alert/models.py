"""Tables of alert intake: the durable inbox, alerts, alert groups and silences.

``alert_inbox`` holds each accepted webhook body exactly as received; it is written (and
committed) before the sender gets its 2xx. The processor turns rows into ``alert`` rows
(one per fingerprint: a counter, last-seen time and current status) grouped in
``alert_group`` rows (one per group key, pointing at the incident the group feeds).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, text
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow


class AlertInbox(SQLModel, table=True):
    """One accepted webhook request; ``processed_at`` is set in the transaction that applied it."""

    __tablename__ = "alert_inbox"
    __table_args__ = (
        # The processor's queue: pending rows in arrival order.
        Index(
            "ix_alert_inbox_pending",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        Index("ix_alert_inbox_processed_at", "processed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    #: The request body as received (validated JSON, so UTF-8 text).
    body: str = Field(sa_column=Column(Text, nullable=False))
    #: Values the bot assigned on receipt and answered with (PagerDuty's generated dedup_key),
    #: so that processing the row later gives the same alerts.
    assigned: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    alert_count: int = Field(default=0)
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    attempts: int = Field(default=0)
    failed: bool = Field(default=False)
    error: str | None = Field(default=None, sa_column=Column(Text))


class AlertGroup(SQLModel, table=True):
    """Alerts that belong together: one sender group, or one value of the first group label."""

    __tablename__ = "alert_group"
    __table_args__ = (Index("ix_alert_group_opened_at", "opened_at"),)

    id: int | None = Field(default=None, primary_key=True)
    #: sha256 of ``key`` (sender group keys can be long); unique.
    key_hash: str = Field(max_length=64, unique=True)
    key: str = Field(sa_column=Column(Text, nullable=False))
    #: ``model=fraud-detector``: groups sharing it join one open incident.
    label_key: str | None = Field(default=None, max_length=300, index=True)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    source: str = Field(max_length=100)
    #: The routing rule that opened (or will open) the group's incident.
    route: str | None = Field(default=None, max_length=100)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    #: Attached to an alert-storm umbrella incident instead of its own.
    storm: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    opened_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class Silence(SQLModel, table=True):
    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    #: Matchers in Alertmanager syntax, e.g. ``model="fraud-detector"``.
    matchers: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    expired_by: str | None = Field(default=None, max_length=200)

    def active_at(self, now: datetime) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at


class Alert(SQLModel, table=True):
    """One alert (fingerprint) with its current status; redeliveries bump ``count``."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_incident_status", "incident_id", "status"),
        Index("ix_alert_group_status", "group_id", "status"),
        Index("ix_alert_status_expires", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=16, unique=True)
    source: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    status: str = Field(max_length=10)
    severity: str = Field(max_length=10)
    raw_severity: str | None = Field(default=None, sa_column=Column(String(200)))
    title: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    annotations: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    links: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    starts_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    ends_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    group_id: int = Field(foreign_key="alert_group.id")
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    #: The routing rule the alert matched on its last delivery.
    route: str | None = Field(default=None, max_length=100)
    #: Deliveries of this alert (any status).
    count: int = Field(default=1)
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status_changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Firing alerts from senders that never resolve: resolved when not re-sent by then.
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    acknowledged: bool = Field(default=False)
    silenced_by: int | None = Field(default=None, foreign_key="silence.id")
    flapping: bool = Field(default=False)
    #: Times of recent status changes (ISO 8601), kept for the flapping window.
    changes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    last_inbox_id: int | None = Field(default=None)
    #: The alert's own JSON as last received.
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
