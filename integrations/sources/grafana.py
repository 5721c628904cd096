"""Grafana unified alerting webhook contact point → normalized alerts.

The body is Alertmanager's (``receiver``, ``status``, ``alerts``, ``groupKey``...) plus
``orgId``, ``title``, ``state`` and ``message``, and per alert ``values``, ``valueString``,
``silenceURL``, ``dashboardURL``, ``panelURL`` (and ``imageURL`` with screenshots). The extras
become annotations (``grafana_state``, ``values``, ``value_string``) and links.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from integrations.sources._parsing import http_link, text_of, validate_model
from integrations.sources.alertmanager import (
    AlertmanagerAlert,
    AlertmanagerBody,
    alert_times,
    normalize_am_alert,
)
from integrations.sources.model import Link, ParsedBatch

KIND = "grafana"


class GrafanaAlert(AlertmanagerAlert):
    values: dict[str, Any] | None = None
    value_string: str | None = Field(default=None, alias="valueString")
    silence_url: str | None = Field(default=None, alias="silenceURL")
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    panel_url: str | None = Field(default=None, alias="panelURL")
    image_url: str | None = Field(default=None, alias="imageURL")


class GrafanaBody(AlertmanagerBody):
    alerts: list[GrafanaAlert]  # type: ignore[assignment]
    org_id: int | None = Field(default=None, alias="orgId")
    title: str | None = None
    state: str | None = None
    message: str | None = None


def _values_text(values: dict[str, Any], path: str) -> str:
    """``{"B": 0.31, "C": 1}`` → ``B=0.31, C=1`` (the query refIds and their values)."""
    parts = []
    for ref in sorted(values):
        parts.append(f"{ref}={text_of(values[ref], f'{path}.{ref}') or 'null'}")
    return ", ".join(parts)


def _extras(
    alert: GrafanaAlert,
    state: str | None,
    path: str,
) -> tuple[dict[str, str], list[Link | None]]:
    annotations: dict[str, str] = {}
    if state:
        annotations["grafana_state"] = state
    if alert.values:
        annotations["values"] = _values_text(alert.values, f"{path}.values")
    if alert.value_string:
        annotations["value_string"] = alert.value_string
    links = [
        http_link(alert.dashboard_url, "Dashboard"),
        http_link(alert.panel_url, "Panel"),
        http_link(alert.silence_url, "Silence"),
        http_link(alert.image_url, "Image"),
    ]
    return annotations, links


def _validate(body: Any) -> GrafanaBody:
    return validate_model(GrafanaBody, body, hint="expected a Grafana alerting webhook contact point payload")


def check(body: Any) -> int:
    """How many alerts ``parse`` would return, raising the InputError it would raise, without
    building them (the webhook request path; the processor parses the stored body later).
    Beyond the shape, only the times and the ``values`` text can be wrong."""
    parsed = _validate(body)
    for i, alert in enumerate(parsed.alerts):
        alert_times(alert, f"alerts[{i}]")
        if alert.values:
            _values_text(alert.values, f"alerts[{i}].values")
    return len(parsed.alerts)


def parse(body: Any, *, source_name: str, now: datetime) -> ParsedBatch:
    """Parse a Grafana webhook contact point body."""
    del now  # Grafana stamps its own times
    parsed = _validate(body)
    raw_alerts = body["alerts"]
    alerts = []
    for i, alert in enumerate(parsed.alerts):
        path = f"alerts[{i}]"
        annotations, links = _extras(alert, parsed.state, path)
        alerts.append(
            normalize_am_alert(
                alert,
                raw_alerts[i],
                source_name=source_name,
                group_key=parsed.group_key,
                path=path,
                extra_annotations=annotations,
                extra_links=links,
                generator_text="Alert rule",
            )
        )
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
