"""PagerDuty Events API v2 events → normalized alerts, so anything that pages PagerDuty pages us.

An event is ``{routing_key, event_action, dedup_key, payload, links, images, client,
client_url}``. ``trigger`` needs ``payload.summary``, ``payload.source`` and
``payload.severity`` (critical, error, warning, info); ``acknowledge`` and ``resolve`` need the
``dedup_key`` of the trigger. As PagerDuty does, a trigger without ``dedup_key`` gets a
generated one, returned in the response so the sender can resolve it later.

The fingerprint is FNV-1a over ``{routing_key, dedup_key}``, so a trigger and its resolve
match. String ``custom_details`` (short, one line) become labels; other details annotations.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from integrations.sources._parsing import (
    http_link,
    input_error,
    join_path,
    parse_time,
    text_of,
    unique_links,
    validate_model,
)
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import Link, NormalizedAlert, ParsedBatch, Severity

KIND = "pagerduty"
SEVERITY_MAP: dict[str, Severity] = {
    "critical": "critical",
    "error": "high",
    "warning": "warning",
    "info": "info",
}
#: custom_details strings up to this long (and on one line) are labels, others annotations.
_LABEL_MAX = 100
#: custom_details keys that describe rather than identify: always annotations.
_PROSE_KEYS = frozenset({"description", "details", "message", "summary", "text", "body"})


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    summary: str = Field(min_length=1)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class PagerDutyLink(BaseModel):
    model_config = ConfigDict(extra="allow")

    href: str
    text: str | None = None


class PagerDutyImage(BaseModel):
    model_config = ConfigDict(extra="allow")

    src: str
    href: str | None = None
    alt: str | None = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[PagerDutyLink] = Field(default_factory=list)
    images: list[PagerDutyImage] = Field(default_factory=list)


def _details(details: Any) -> tuple[dict[str, str], dict[str, str]]:
    """custom_details → (labels, annotations)."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if isinstance(details, dict):
        for key, value in details.items():
            if (
                isinstance(value, str)
                and key.lower() not in _PROSE_KEYS
                and len(value) <= _LABEL_MAX
                and "\n" not in value
            ):
                labels[key] = value
            else:
                text = text_of(value, join_path("payload.custom_details", key))
                if text is not None:
                    annotations[key] = text
    elif details is not None:
        text = text_of(details, "payload.custom_details")
        if text is not None:
            annotations["details"] = text
    return labels, annotations


def _links(event: PagerDutyEvent) -> list[Link]:
    links: list[Link | None] = [http_link(link.href, link.text or link.href) for link in event.links]
    links += [http_link(image.href or image.src, image.alt or "Image") for image in event.images]
    links.append(http_link(event.client_url, event.client or "Sender"))
    return unique_links(links)


def _masked(routing_key: str) -> str:
    return "…" + routing_key[-4:] if len(routing_key) > 8 else "…"


def parse(body: Any, *, source_name: str, now: datetime) -> ParsedBatch:
    """Parse one PagerDuty Events API v2 event (``POST /v2/enqueue`` body)."""
    event = validate_model(PagerDutyEvent, body, hint="expected a PagerDuty Events API v2 event")
    response: dict[str, str] = {}
    dedup_key = event.dedup_key
    if dedup_key is None:
        if event.event_action != "trigger":
            raise input_error(
                "dedup_key",
                f"field required for event_action {event.event_action!r}",
                hint="send the dedup_key of the trigger event to acknowledge or resolve it",
            )
        dedup_key = uuid.uuid4().hex
    response["dedup_key"] = dedup_key
    payload = event.payload
    if event.event_action == "trigger" and payload is None:
        raise input_error(
            "payload",
            "field required for event_action 'trigger'",
            hint="a trigger needs payload.summary, payload.source and payload.severity",
        )

    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at = ends_at = None
    title = dedup_key
    severity: Severity = "info"
    raw_severity = None
    if payload is not None:
        labels, annotations = _details(payload.custom_details)
        labels.update(
            {
                name: value
                for name, value in (
                    ("source", payload.source),
                    ("component", payload.component),
                    ("group", payload.group),
                    ("class", payload.class_),
                )
                if value
            }
        )
        title = payload.summary
        raw_severity = payload.severity
        severity = SEVERITY_MAP[payload.severity]
        starts_at = parse_time(payload.timestamp, "payload.timestamp")
    if event.event_action == "trigger":
        starts_at = starts_at or now
    elif event.event_action == "resolve":
        ends_at = now

    # The routing key is a credential at PagerDuty: keep it out of what gets stored.
    raw = {**body, "routing_key": _masked(event.routing_key)}
    fingerprint = labelset_fingerprint({"routing_key": event.routing_key, "dedup_key": dedup_key})
    alert = NormalizedAlert(
        source=source_name,
        fingerprint=fingerprint,
        status="resolved" if event.event_action == "resolve" else "firing",
        severity=severity,
        raw_severity=raw_severity,
        title=title,
        description=annotations.get("description"),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        links=_links(event),
        group_key=dedup_key,
        acknowledged=event.event_action == "acknowledge",
        raw=raw,
    )
    return ParsedBatch(
        kind=KIND,
        source=source_name,
        alerts=[alert],
        group_key=dedup_key,
        receiver=_masked(event.routing_key),
        response_extras=response,
    )
