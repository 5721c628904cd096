"""The one normalized alert every sender's parser produces, and the batch a webhook carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Status = Literal["firing", "resolved"]
#: One scale for every sender; ``raw_severity`` keeps what the sender said.
Severity = Literal["critical", "high", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "warning", "info")

Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class Link(BaseModel):
    """A link shown with the alert (source graph, runbook, dashboard...). Always http(s)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    href: str
    text: str


class NormalizedAlert(BaseModel):
    """One alert from any sender, in the shape the incident core dedupes, groups and routes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The source name as configured (e.g. "alertmanager", "feature-store-monitor").
    source: str
    #: Dedupe key: 16 hex digits (see ``fingerprint.py`` for the rule per sender).
    fingerprint: Fingerprint
    status: Status
    severity: Severity
    raw_severity: str | None = None
    title: str
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    #: Tz-aware UTC; ``None`` when the sender did not say (Alertmanager's zero time too).
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: list[Link] = Field(default_factory=list)
    #: The sender's grouping key: Alertmanager/Grafana ``groupKey``, Datadog
    #: ``alert_id/cycle``, PagerDuty ``dedup_key``; ``None`` when the sender has none.
    group_key: str | None = None
    #: Resolve the alert when it is not sent again within this many seconds.
    expires_in_s: int | None = Field(default=None, ge=0)
    #: PagerDuty ``acknowledge``: still firing, someone is on it.
    acknowledged: bool = False
    #: The alert's own JSON object as received (one element of ``alerts`` for batches).
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)


class ParsedBatch(BaseModel):
    """What one webhook request carried: its alerts and what the sender said about them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Parser kind: alertmanager, grafana, pagerduty, datadog or generic.
    kind: str
    source: str
    alerts: list[NormalizedAlert] = Field(default_factory=list)
    #: The sender's key for the whole notification (Alertmanager/Grafana ``groupKey``).
    group_key: str | None = None
    #: Who the sender addressed: Alertmanager/Grafana ``receiver``; PagerDuty: the last four
    #: characters of ``routing_key`` (a credential at PagerDuty, never kept whole).
    receiver: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict)
    #: The sender's own UI (Alertmanager ``externalURL``, Grafana root URL).
    external_url: str | None = None
    #: Alerts the sender left out because of its max_alerts limit.
    truncated_alerts: int = 0
    #: Fields to put in the HTTP response, e.g. PagerDuty's ``dedup_key``.
    response_extras: dict[str, str] = Field(default_factory=dict)
