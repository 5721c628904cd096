"""Typed inputs and outputs of alerts and silences, shared by the REST API and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.alert.matchers import Matcher


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Alertmanager-style matchers, e.g. ``model="fraud-detector"``, ``alertname=~"Drift.*"``.
    matchers: list[str] = Field(min_length=1, max_length=50)
    #: How long from ``starts_at`` (or now); give this or ``ends_at``.
    duration_s: int | None = Field(default=None, gt=0, le=366 * 24 * 3600)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("matchers")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        parsed = [Matcher.parse(m) for m in value]
        if all(m.matches({}) for m in parsed):
            raise ValueError(
                'at least one matcher must require a value (e.g. model="x"): these would silence every alert'
            )
        return [str(m) for m in parsed]

    @model_validator(mode="after")
    def _one_end(self) -> SilenceCreate:
        if (self.duration_s is None) == (self.ends_at is None):
            raise ValueError("give exactly one of duration_s or ends_at")
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a timezone (e.g. 2026-01-01T10:00:00Z)")
        return self

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        starts = self.starts_at or now
        return starts, self.ends_at or starts + timedelta(seconds=self.duration_s or 0)


class SilenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None
    expired_by: str | None
    state: Literal["pending", "active", "expired"] = "active"
    #: Firing alerts it silenced when created.
    silenced_alerts: int | None = None


class AlertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["firing", "resolved"] | None = None
    source: str | None = None
    incident: str | None = None
    fingerprint: str | None = None
    silenced: bool | None = None
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    fingerprint: str
    source: str
    kind: str
    status: str
    severity: str
    raw_severity: str | None
    title: str
    description: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[dict[str, str]]
    starts_at: datetime | None
    ends_at: datetime | None
    incident: str | None = None
    route: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None
    acknowledged: bool
    silenced_by: int | None
    flapping: bool


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class InboxStatus(BaseModel):
    pending: int
    oldest_pending_at: datetime | None
    failed: int
    recent_failures: list[dict[str, Any]]
