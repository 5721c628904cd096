"""Prometheus Alertmanager webhook (payload version 4) → normalized alerts.

Alertmanager posts one notification per alert group: ``groupKey`` identifies the group, each
alert carries its ``fingerprint`` (FNV-1a over its labels), ``status``, ``startsAt``/``endsAt``
(Go's zero time when unset), labels, annotations and ``generatorURL``. The severity comes from
the ``severity`` label; the title from the ``summary`` annotation, else ``alertname``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from integrations.sources._parsing import (
    http_link,
    input_error,
    links_from_annotations,
    normalize_severity,
    parse_time,
    unique_links,
    validate_model,
)
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import Fingerprint, Link, NormalizedAlert, ParsedBatch

KIND = "alertmanager"
PAYLOAD_VERSION = "4"


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = Field(default=None, alias="startsAt")
    ends_at: str | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: Fingerprint | None = None


class AlertmanagerBody(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: str | None = None
    group_key: str | None = Field(default=None, alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AlertmanagerAlert]


def alert_title(labels: dict[str, str], annotations: dict[str, str], fingerprint: str) -> str:
    for candidate in (annotations.get("summary"), annotations.get("title"), labels.get("alertname")):
        if candidate and candidate.strip():
            return candidate.strip()
    return f"alert {fingerprint}"


def alert_times(alert: AlertmanagerAlert, path: str) -> tuple[datetime | None, datetime | None]:
    """``startsAt`` and ``endsAt`` (Go's zero time: None); InputError names a malformed one."""
    return parse_time(alert.starts_at, f"{path}.startsAt"), parse_time(alert.ends_at, f"{path}.endsAt")


def normalize_am_alert(
    alert: AlertmanagerAlert,
    raw: dict[str, Any],
    *,
    source_name: str,
    group_key: str | None,
    path: str,
    extra_annotations: dict[str, str] | None = None,
    extra_links: list[Link | None] | None = None,
    generator_text: str = "Source",
) -> NormalizedAlert:
    """One Alertmanager-shaped alert (Alertmanager or Grafana) as a NormalizedAlert."""
    fingerprint = alert.fingerprint or labelset_fingerprint(alert.labels)
    annotations = {**alert.annotations, **(extra_annotations or {})}
    raw_severity = alert.labels.get("severity")
    starts_at, ends_at = alert_times(alert, path)
    links = [
        http_link(alert.generator_url, generator_text),
        *links_from_annotations(alert.annotations),
        *(extra_links or []),
    ]
    # Every value is already valid (AlertmanagerAlert's fields, parse_time's aware UTC times,
    # normalize_severity's literal): building without a second validation takes a third of
    # the parse off the webhook hot path.
    return NormalizedAlert.model_construct(
        source=source_name,
        fingerprint=fingerprint,
        status=alert.status,
        severity=normalize_severity(raw_severity),
        raw_severity=raw_severity,
        title=alert_title(alert.labels, alert.annotations, fingerprint),
        description=alert.annotations.get("description") or None,
        labels=alert.labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        links=unique_links(links),
        group_key=group_key,
        raw=raw,
    )


def _validate(body: Any) -> AlertmanagerBody:
    parsed = validate_model(
        AlertmanagerBody,
        body,
        hint="expected an Alertmanager webhook_config payload (version 4)",
    )
    if parsed.version is not None and parsed.version != PAYLOAD_VERSION:
        raise input_error(
            "version",
            f"expected {PAYLOAD_VERSION!r}, got {parsed.version!r}",
            hint="this endpoint reads Alertmanager webhook payload version 4",
        )
    return parsed


def check(body: Any) -> int:
    """How many alerts ``parse`` would return, raising the InputError it would raise, without
    building them: the webhook request path (storms), where the processor parses the stored
    body again later. Only the shape and the times can be wrong; the rest of normalizing
    (fingerprints, titles, links) takes any valid alert."""
    parsed = _validate(body)
    for i, alert in enumerate(parsed.alerts):
        alert_times(alert, f"alerts[{i}]")
    return len(parsed.alerts)


def parse(body: Any, *, source_name: str, now: datetime) -> ParsedBatch:
    """Parse an Alertmanager webhook body (``version: "4"``)."""
    del now  # Alertmanager stamps its own times
    parsed = _validate(body)
    raw_alerts = body["alerts"]
    alertmanager_link = http_link(parsed.external_url, "Alertmanager")
    alerts = [
        normalize_am_alert(
            alert,
            raw_alerts[i],
            source_name=source_name,
            group_key=parsed.group_key,
            path=f"alerts[{i}]",
            extra_links=[alertmanager_link],
        )
        for i, alert in enumerate(parsed.alerts)
    ]
    return ParsedBatch(
        kind=KIND,
        source=source_name,
        alerts=alerts,
        group_key=parsed.group_key,
        receiver=parsed.receiver,
        group_labels=parsed.group_labels,
        external_url=parsed.external_url,
        truncated_alerts=parsed.truncated_alerts,
    )
