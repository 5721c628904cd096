"""Datadog webhook integration → normalized alerts.

Datadog sends whatever payload template the user wrote; the documented default template is
``integrations/sources/templates/datadog.json`` (see ``docs/alert-sources.md``). Its keys:
``alert_id`` ($ALERT_ID, the monitor), ``alert_cycle_key`` ($ALERT_CYCLE_KEY, one trigger to
its recovery), ``alert_transition`` ($ALERT_TRANSITION), ``alert_scope`` ($ALERT_SCOPE),
``title`` ($EVENT_TITLE), ``priority`` ($ALERT_PRIORITY, P1..P5), ``event_priority``
($PRIORITY, normal/low), ``alert_type`` ($ALERT_TYPE), ``tags`` ($TAGS), ``date`` ($DATE, epoch
ms), ``link`` ($LINK), ``body`` ($EVENT_MSG).

The fingerprint is FNV-1a over ``{alert_id, scope}``: one multi-alert monitor over several
scopes gives distinct alerts, and a recovery matches its trigger.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from integrations.sources._parsing import (
    http_link,
    input_error,
    normalize_severity,
    parse_time,
    text_of,
    unique_links,
    validate_model,
)
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import NormalizedAlert, ParsedBatch, Severity, Status

KIND = "datadog"

#: $ALERT_TRANSITION values → status. Re-* are repeats of the same state.
TRANSITIONS: dict[str, Status] = {
    "triggered": "firing",
    "re-triggered": "firing",
    "warn": "firing",
    "re-warn": "firing",
    "no data": "firing",
    "re-no data": "firing",
    "renotify": "firing",
    "recovered": "resolved",
}
#: Transitions that start a state (their date is when the alert started).
_STARTING = frozenset({"triggered", "warn", "no data"})
PRIORITY_MAP: dict[str, Severity] = {
    "p1": "critical",
    "p2": "high",
    "p3": "warning",
    "p4": "info",
    "p5": "info",
}
ALERT_TYPE_MAP: dict[str, Severity] = {
    "error": "high",
    "warning": "warning",
    "info": "info",
    "success": "info",
}
_TITLE_PREFIX = re.compile(
    r"^\s*\[(?:P\d|Triggered|Re-Triggered|Recovered|Warn|Re-Warn|No Data|Re-No Data|Renotify)"
    r"\b[^\]]*\]\s*",
    re.IGNORECASE,
)


def _scalar(value: Any) -> Any:
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise ValueError("expected a string")


#: A template variable's value: text, or a number when the template leaves it unquoted.
Text = Annotated[Any, AfterValidator(_scalar)]


class DatadogWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    alert_id: Text
    alert_transition: str = Field(min_length=1)
    alert_cycle_key: Text = None
    id: Text = None
    alert_type: Text = None
    title: Text = None
    alert_title: Text = None
    alert_scope: Text = None
    alert_status: Text = None
    alert_query: Text = None
    alert_metric: Text = None
    priority: Text = None
    event_priority: Text = None
    tags: Text = None
    hostname: Text = None
    date: Text = None
    link: Text = None
    snapshot: Text = None
    body: Text = None


def _text(value: Text, field: str = "") -> str | None:
    """Template variables Datadog leaves empty arrive as ""; both mean "not said"."""
    text = text_of(value, field)
    return (text.strip() or None) if text is not None else None


def parse_tags(text: str | None) -> dict[str, str]:
    """``env:prod,model:pricing,canary`` → labels; a bare tag becomes ``{tag: "true"}``."""
    labels: dict[str, list[str]] = {}
    for item in (text or "").split(","):
        tag = item.strip()
        if not tag:
            continue
        key, sep, value = tag.partition(":")
        labels.setdefault(key.strip(), []).append(value.strip() if sep else "true")
    return {key: ",".join(sorted(set(values))) for key, values in labels.items()}


def _scope_key(scope: str | None) -> str:
    """A scope as a stable string: sorted tags, no spaces, so order does not matter."""
    return ",".join(sorted(t.strip() for t in (scope or "").split(",") if t.strip()))


def _severity(hook: DatadogWebhook, transition: str) -> tuple[Severity, str | None]:
    priority = _text(hook.priority)
    alert_type = _text(hook.alert_type)
    if priority and priority.lower() in PRIORITY_MAP:
        severity = PRIORITY_MAP[priority.lower()]
    elif alert_type and alert_type.lower() in ALERT_TYPE_MAP:
        severity = ALERT_TYPE_MAP[alert_type.lower()]
    else:
        severity = normalize_severity(priority, default="high")
    if transition.endswith("warn") and severity in ("critical", "high"):
        severity = "warning"  # the monitor crossed its warning threshold, not its alert one
    return severity, priority or alert_type


def _title(hook: DatadogWebhook, fingerprint: str) -> str:
    for candidate in (_text(hook.title), _text(hook.alert_title)):
        if candidate:
            title = candidate
            while (stripped := _TITLE_PREFIX.sub("", title, count=1)) != title:
                title = stripped
            return title or candidate
    return f"Datadog monitor {_text(hook.alert_id) or fingerprint}"


def _description(body: str | None) -> str | None:
    if body is None:
        return None
    return body.removeprefix("%%%").removesuffix("%%%").strip() or None


def parse(body: Any, *, source_name: str, now: datetime) -> ParsedBatch:
    """Parse a Datadog webhook sent with the default template (or one with the same keys)."""
    del now  # Datadog stamps its own times ($DATE)
    hook = validate_model(
        DatadogWebhook,
        body,
        hint="configure the Datadog webhook with the payload template in docs/alert-sources.md",
    )
    transition = (_text(hook.alert_transition) or "").lower()
    if transition not in TRANSITIONS:
        raise input_error(
            "alert_transition",
            f"unknown Datadog transition {hook.alert_transition!r}",
            hint="expected one of: Triggered, Re-Triggered, Warn, Re-Warn, No Data, "
            "Re-No Data, Renotify, Recovered",
        )
    status = TRANSITIONS[transition]
    alert_id = _text(hook.alert_id, "alert_id") or ""
    if not alert_id:
        raise input_error("alert_id", "must not be empty", hint="map it to $ALERT_ID")
    scope = _text(hook.alert_scope)
    fingerprint = labelset_fingerprint({"alert_id": alert_id, "scope": _scope_key(scope)})
    labels = {**parse_tags(_text(hook.tags)), **parse_tags(scope)}
    severity, raw_severity = _severity(hook, transition)
    date = parse_time(_text(hook.date, "date"), "date")
    cycle = _text(hook.alert_cycle_key)
    annotations = {
        key: text
        for key, text in (
            ("datadog_transition", _text(hook.alert_transition)),
            ("alert_status", _text(hook.alert_status)),
            ("alert_query", _text(hook.alert_query)),
            ("alert_metric", _text(hook.alert_metric)),
            ("hostname", _text(hook.hostname)),
            ("event_priority", _text(hook.event_priority)),
            ("event_id", _text(hook.id)),
            ("scope", scope),
        )
        if text
    }
    alert = NormalizedAlert(
        source=source_name,
        fingerprint=fingerprint,
        status=status,
        severity=severity,
        raw_severity=raw_severity,
        title=_title(hook, fingerprint),
        description=_description(_text(hook.body)),
        labels=labels,
        annotations=annotations,
        starts_at=date if transition in _STARTING else None,
        ends_at=date if status == "resolved" else None,
        links=unique_links(
            [http_link(_text(hook.link), "Datadog"), http_link(_text(hook.snapshot), "Snapshot")]
        ),
        group_key=f"{alert_id}/{cycle}" if cycle else alert_id,
        raw=body,
    )
    return ParsedBatch(kind=KIND, source=source_name, alerts=[alert], group_key=alert.group_key)
