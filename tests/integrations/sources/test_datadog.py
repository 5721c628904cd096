from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import InputError
from integrations.sources import datadog
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import Link
from tests.integrations.sources.conftest import NOW, load

TEMPLATE = Path("integrations/sources/templates/datadog.json")


def parse(body: Any) -> Any:
    return datadog.parse(body, source_name="datadog", now=NOW)


def test_triggered() -> None:
    batch = parse(load("datadog_webhook_triggered"))
    (alert,) = batch.alerts
    assert alert.fingerprint == labelset_fingerprint(
        {"alert_id": "123456789", "scope": "env:prod,model:pricing"}
    )
    assert alert.status == "firing"
    assert alert.severity == "critical"
    assert alert.raw_severity == "P1"
    assert alert.title == "Prediction volume dropped 80%"
    assert alert.description == "Prediction volume for pricing dropped from 1.2k/min to 230/min"
    assert alert.labels == {"env": "prod", "model": "pricing", "team": "ml-platform"}
    assert alert.annotations == {
        "datadog_transition": "Triggered",
        "event_id": "7301234567890123456",
        "scope": "model:pricing,env:prod",
    }
    assert alert.starts_at == datetime(2025, 11, 20, 10, 0, tzinfo=UTC)  # $DATE, epoch ms
    assert alert.ends_at is None
    assert alert.group_key == batch.group_key == "123456789/7301234500000000001"
    assert alert.links == [Link(href="https://app.datadoghq.com/monitors/123456789", text="Datadog")]


def test_recovered_matches_triggered() -> None:
    triggered = parse(load("datadog_webhook_triggered")).alerts[0]
    recovered = parse(load("datadog_webhook_recovered")).alerts[0]
    assert recovered.fingerprint == triggered.fingerprint
    assert recovered.status == "resolved"
    assert recovered.title == "Prediction volume dropped 80%"
    assert recovered.starts_at is None
    assert recovered.ends_at == datetime(2025, 11, 20, 10, 30, tzinfo=UTC)
    assert recovered.group_key == triggered.group_key


def test_one_monitor_over_two_scopes_gives_two_alerts() -> None:
    body = load("datadog_webhook_triggered")
    other = body | {"alert_scope": "model:ranking,env:prod"}
    assert parse(body).alerts[0].fingerprint != parse(other).alerts[0].fingerprint
    reordered = body | {"alert_scope": "env:prod, model:pricing"}
    assert parse(reordered).alerts[0].fingerprint == parse(body).alerts[0].fingerprint


@pytest.mark.parametrize(
    ("transition", "status", "severity"),
    [
        ("Triggered", "firing", "critical"),
        ("Re-Triggered", "firing", "critical"),
        ("Warn", "firing", "warning"),
        ("Re-Warn", "firing", "warning"),
        ("No Data", "firing", "critical"),
        ("Re-No Data", "firing", "critical"),
        ("Renotify", "firing", "critical"),
        ("Recovered", "resolved", "critical"),
    ],
)
def test_transitions(transition: str, status: str, severity: str) -> None:
    body = load("datadog_webhook_triggered") | {"alert_transition": transition}
    alert = parse(body).alerts[0]
    assert (alert.status, alert.severity) == (status, severity)
    assert alert.annotations["datadog_transition"] == transition


@pytest.mark.parametrize(
    ("priority", "alert_type", "severity"),
    [
        ("P2", "", "high"),
        ("P3", "error", "warning"),
        ("P5", "", "info"),
        ("", "error", "high"),
        ("", "warning", "warning"),
        ("", "", "high"),
        ("normal", "", "high"),
    ],
)
def test_severity_from_priority_then_alert_type(priority: str, alert_type: str, severity: str) -> None:
    body = load("datadog_webhook_triggered") | {"priority": priority, "alert_type": alert_type}
    assert parse(body).alerts[0].severity == severity


def test_title_prefixes_and_bare_tags() -> None:
    body = load("datadog_webhook_triggered") | {
        "title": "[P1] [Re-Triggered on {model:pricing}] Volume dropped",
        "tags": "canary, env:prod,env:eu",
        "alert_scope": "",
    }
    alert = parse(body).alerts[0]
    assert alert.title == "Volume dropped"
    assert alert.labels == {"canary": "true", "env": "eu,prod"}
    assert alert.fingerprint == labelset_fingerprint({"alert_id": "123456789", "scope": ""})


def test_the_shipped_template_parses_once_datadog_fills_it() -> None:
    text = TEMPLATE.read_text()
    filled = {
        "$ID": "1",
        "$ALERT_ID": "42",
        "$ALERT_CYCLE_KEY": "99",
        "$ALERT_TRANSITION": "Warn",
        "$ALERT_TYPE": "warning",
        "$EVENT_TITLE": "[Warn on {host:a}] Disk",
        "$ALERT_TITLE": "Disk",
        "$ALERT_SCOPE": "host:a",
        "$ALERT_STATUS": "disk > 80%",
        "$ALERT_QUERY": "avg:disk{*}",
        "$ALERT_METRIC": "disk",
        "$ALERT_PRIORITY": "P2",
        "$PRIORITY": "normal",
        "$TAGS": "host:a,team:ml",
        "$HOSTNAME": "a",
        "$DATE": "1763632800000",
        "$LINK": "https://app.datadoghq.com/event/1",
        "$SNAPSHOT": "",
        "$EVENT_MSG": "%%%\\nDisk is filling\\n%%%",
        "$ORG_ID": "7",
        "$ORG_NAME": "acme",
    }
    for variable in sorted(filled, key=len, reverse=True):
        text = text.replace(variable, filled[variable])
    alert = parse(json.loads(text)).alerts[0]
    assert alert.title == "Disk"
    assert alert.severity == "warning"  # P2, but a Warn transition
    assert alert.labels == {"host": "a", "team": "ml"}
    assert alert.description == "Disk is filling"
    assert alert.annotations["event_priority"] == "normal"
    assert alert.group_key == "42/99"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("alert_id"), "alert_id: field required"),
        (lambda b: b.update(alert_transition="Exploded"), "alert_transition: unknown Datadog"),
        (lambda b: b.update(alert_transition=3), "alert_transition: input should be a valid string"),
        (lambda b: b.update(alert_id=""), "alert_id: must not be empty"),
        (lambda b: b.update(date="not-a-date"), "date: not an RFC 3339 timestamp"),
        (lambda b: b.update(tags=["a"]), "tags: expected a string"),
        (lambda b: b.update(alert_id=None), "alert_id: must not be empty"),
    ],
)
def test_wrong_shapes_name_the_field(mutate: Any, message: str) -> None:
    body = load("datadog_webhook_triggered")
    mutate(body)
    with pytest.raises(InputError) as info:
        parse(body)
    assert info.value.message.startswith(message), info.value.message
