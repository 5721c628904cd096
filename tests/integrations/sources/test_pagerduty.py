from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import InputError
from integrations.sources import pagerduty
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import Link
from tests.integrations.sources.conftest import NOW, load

ROUTING_KEY = "R0UTINGKEYFORMLPLATFORM00000000"


def parse(body: Any) -> Any:
    return pagerduty.parse(body, source_name="pagerduty", now=NOW)


def test_trigger() -> None:
    batch = parse(load("pagerduty_events_v2_trigger"))
    assert batch.response_extras == {"dedup_key": "ranker-latency-p99"}
    assert batch.group_key == "ranker-latency-p99"
    assert batch.receiver == "…0000"
    (alert,) = batch.alerts
    assert alert.fingerprint == labelset_fingerprint(
        {"routing_key": ROUTING_KEY, "dedup_key": "ranker-latency-p99"}
    )
    assert alert.fingerprint == "4298ffaf18bf3e83"
    assert alert.status == "firing"
    assert alert.severity == "high"
    assert alert.raw_severity == "error"
    assert alert.title == "ranker p99 latency 870 ms > 300 ms"
    assert alert.labels == {
        "source": "ranker-serving-7f9c",
        "component": "ranker",
        "group": "recsys",
        "class": "latency",
        "model": "ranker",
        "model_version": "14",
    }
    assert alert.annotations == {"p99_ms": "870"}
    assert alert.starts_at == datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.group_key == "ranker-latency-p99"
    assert alert.links == [
        Link(href="https://grafana.example/d/ranker", text="Ranker dashboard"),
        Link(href="http://prometheus.example:9090", text="Prometheus"),
    ]
    assert alert.acknowledged is False


def test_the_routing_key_is_not_stored() -> None:
    alert = parse(load("pagerduty_events_v2_trigger")).alerts[0]
    assert alert.raw["routing_key"] == "…0000"
    assert ROUTING_KEY not in repr(alert)
    assert alert.raw["payload"] == load("pagerduty_events_v2_trigger")["payload"]


def test_resolve_matches_its_trigger() -> None:
    trigger = parse(load("pagerduty_events_v2_trigger")).alerts[0]
    batch = parse(load("pagerduty_events_v2_resolve"))
    (resolve,) = batch.alerts
    assert resolve.fingerprint == trigger.fingerprint
    assert resolve.status == "resolved"
    assert resolve.ends_at == NOW
    assert resolve.title == "ranker-latency-p99"
    assert resolve.severity == "info"
    assert resolve.raw_severity is None
    assert batch.response_extras == {"dedup_key": "ranker-latency-p99"}


def test_acknowledge_keeps_firing() -> None:
    body = load("pagerduty_events_v2_resolve") | {"event_action": "acknowledge"}
    (alert,) = parse(body).alerts
    assert alert.status == "firing"
    assert alert.acknowledged is True
    assert alert.fingerprint == "4298ffaf18bf3e83"


def test_same_dedup_key_on_another_routing_key_is_another_alert() -> None:
    body = load("pagerduty_events_v2_trigger") | {"routing_key": "ANOTHERSERVICEKEY000000000000000"}
    assert parse(body).alerts[0].fingerprint != "4298ffaf18bf3e83"


def test_trigger_without_dedup_key_gets_one_to_resolve_with() -> None:
    body = load("pagerduty_events_v2_trigger")
    del body["dedup_key"]
    del body["payload"]["timestamp"]
    batch = parse(body)
    key = batch.response_extras["dedup_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert batch.alerts[0].group_key == key
    assert batch.alerts[0].starts_at == NOW
    resolve = parse({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": key})
    assert resolve.alerts[0].fingerprint == batch.alerts[0].fingerprint
    assert parse(body).response_extras["dedup_key"] != key  # a new trigger, a new key


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", "critical"),
        ("error", "high"),
        ("warning", "warning"),
        ("info", "info"),
    ],
)
def test_severity_map(severity: str, expected: str) -> None:
    body = load("pagerduty_events_v2_trigger")
    body["payload"]["severity"] = severity
    assert parse(body).alerts[0].severity == expected


def test_custom_details_prose_nested_and_string_details() -> None:
    body = load("pagerduty_events_v2_trigger")
    body["payload"]["custom_details"] = {
        "description": "p99 went up after deploy",
        "firing": "line 1\nline 2",
        "window": {"minutes": 5},
        "retried": True,
        "note": None,
    }
    alert = parse(body).alerts[0]
    assert alert.description == "p99 went up after deploy"
    assert alert.annotations == {
        "description": "p99 went up after deploy",
        "firing": "line 1\nline 2",
        "window": '{"minutes":5}',
        "retried": "true",
    }
    body["payload"]["custom_details"] = "free text details"
    assert parse(body).alerts[0].annotations == {"details": "free text details"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(event_action="escalate"), "event_action: input should be 'trigger'"),
        (lambda b: b.pop("routing_key"), "routing_key: field required"),
        (lambda b: b.pop("payload"), "payload: field required for event_action 'trigger'"),
        (lambda b: b["payload"].pop("summary"), "payload.summary: field required"),
        (lambda b: b["payload"].update(severity="high"), "payload.severity: input should be"),
        (lambda b: b.update(dedup_key="k" * 256), "dedup_key: string should have at most 255"),
        (lambda b: b.update(links=[{"text": "x"}]), "links[0].href: field required"),
        (lambda b: b["payload"].update(timestamp="soon"), "payload.timestamp: not an RFC 3339"),
    ],
)
def test_wrong_shapes_name_the_field(mutate: Any, message: str) -> None:
    body = load("pagerduty_events_v2_trigger")
    mutate(body)
    with pytest.raises(InputError) as info:
        parse(body)
    assert info.value.message.startswith(message), info.value.message


def test_resolve_without_dedup_key_is_refused() -> None:
    with pytest.raises(InputError, match=r"^dedup_key: field required for event_action 'resolve'"):
        parse({"routing_key": ROUTING_KEY, "event_action": "resolve"})
