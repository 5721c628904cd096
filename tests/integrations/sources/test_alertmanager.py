from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import InputError
from integrations.sources import alertmanager
from integrations.sources.model import Link
from tests.integrations.sources.conftest import NOW, load

GROUP_KEY = '{}:{alertname="ModelErrorRateHigh", model="fraud-detector"}'
GENERATOR = (
    "http://prometheus.example:9090/graph?g0.expr=model_error_rate%7Bmodel%3D%22"
    "fraud-detector%22%7D+%3E+0.05&g0.tab=1"
)


def parse(body: Any) -> Any:
    return alertmanager.parse(body, source_name="alertmanager", now=NOW)


def test_firing_batch() -> None:
    batch = parse(load("alertmanager_v4_firing"))
    assert batch.kind == "alertmanager"
    assert batch.group_key == GROUP_KEY
    assert batch.receiver == "incident-bot"
    assert batch.group_labels == {"alertname": "ModelErrorRateHigh", "model": "fraud-detector"}
    assert batch.external_url == "http://alertmanager.example:9093"
    assert batch.truncated_alerts == 0
    first, second = batch.alerts
    assert [first.fingerprint, second.fingerprint] == ["0f3a38a89d70e03a", "4fbf46c60e6180cb"]
    assert first.source == "alertmanager"
    assert first.status == "firing"
    assert first.severity == "critical"
    assert first.raw_severity == "critical"
    assert first.title == "fraud-detector error rate above 5% for 2m"
    assert first.description == "Error rate is 0.23 on scoring-0:8080"
    assert first.labels["instance"] == "scoring-0:8080"
    assert first.annotations["runbook_url"] == "https://runbooks.example.com/rollback-model"
    assert first.starts_at == datetime(2026, 11, 20, 3, 12, 5, 123000, tzinfo=UTC)
    assert first.ends_at is None  # Go's zero time
    assert first.group_key == GROUP_KEY
    assert first.links == [
        Link(href=GENERATOR, text="Source"),
        Link(href="https://runbooks.example.com/rollback-model", text="Runbook"),
        Link(href="http://alertmanager.example:9093", text="Alertmanager"),
    ]
    assert first.raw == load("alertmanager_v4_firing")["alerts"][0]
    assert first.acknowledged is False
    assert first.expires_in_s is None


def test_resolved_batch_matches_the_firing_one() -> None:
    firing = parse(load("alertmanager_v4_firing"))
    resolved = parse(load("alertmanager_v4_resolved"))
    assert [a.fingerprint for a in resolved.alerts] == [a.fingerprint for a in firing.alerts]
    assert {a.status for a in resolved.alerts} == {"resolved"}
    assert resolved.alerts[0].ends_at == datetime(2026, 11, 20, 3, 31, 45, tzinfo=UTC)
    assert resolved.alerts[0].starts_at == firing.alerts[0].starts_at


def test_missing_fingerprint_is_computed_like_alertmanager() -> None:
    body = load("alertmanager_v4_firing")
    del body["alerts"][1]["fingerprint"]
    assert parse(body).alerts[1].fingerprint == "4fbf46c60e6180cb"


def test_unknown_fields_are_accepted() -> None:
    body = load("alertmanager_v4_firing")
    body["future_field"] = {"x": 1}
    body["alerts"][0]["silenced_by"] = ["abc"]
    assert len(parse(body).alerts) == 2


def test_title_falls_back_to_alertname_and_severity_to_warning() -> None:
    body = load("alertmanager_v4_firing")
    alert = body["alerts"][0]
    alert["annotations"] = {}
    del alert["labels"]["severity"]
    parsed = parse(body).alerts[0]
    assert parsed.title == "ModelErrorRateHigh"
    assert parsed.severity == "warning"
    assert parsed.raw_severity is None
    assert parsed.description is None


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("page", "critical"),
        ("error", "high"),
        ("warn", "warning"),
        ("none", "info"),
        ("Critical", "critical"),
        ("weird", "warning"),
    ],
)
def test_severity_words(word: str, severity: str) -> None:
    body = load("alertmanager_v4_firing")
    body["alerts"][0]["labels"]["severity"] = word
    alert = parse(body).alerts[0]
    assert alert.severity == severity
    assert alert.raw_severity == word


def test_non_http_links_are_dropped() -> None:
    body = load("alertmanager_v4_firing")
    body["alerts"][0]["annotations"]["runbook_url"] = "javascript:alert(1)"
    body["alerts"][0]["annotations"]["dashboard_url"] = "https://grafana.example/d/fraud"
    links = parse(body).alerts[0].links
    assert Link(href="https://grafana.example/d/fraud", text="Dashboard") in links
    assert all(link.href.startswith("http") for link in links)


def test_nanosecond_times_and_offsets() -> None:
    body = load("alertmanager_v4_firing")
    body["alerts"][0]["startsAt"] = "2026-11-20T05:12:05.123456789+02:00"
    assert parse(body).alerts[0].starts_at == datetime(2026, 11, 20, 3, 12, 5, 123456, tzinfo=UTC)


def _broken(mutate: Any) -> InputError:
    body = copy.deepcopy(load("alertmanager_v4_firing"))
    mutate(body)
    with pytest.raises(InputError) as info:
        parse(body)
    return info.value


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["alerts"][1].pop("labels"), "alerts[1].labels: field required"),
        (lambda b: b.pop("alerts"), "alerts: field required"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status: input should be"),
        (
            lambda b: b["alerts"][0]["labels"].update(model=3),
            "alerts[0].labels.model: input should be a valid string",
        ),
        (lambda b: b["alerts"][0].update(fingerprint="XYZ"), "alerts[0].fingerprint: string should"),
        (
            lambda b: b["alerts"][0].update(startsAt="yesterday"),
            "alerts[0].startsAt: not an RFC 3339 timestamp",
        ),
        (lambda b: b.update(version="3"), "version: expected '4', got '3'"),
        (lambda b: b.update(alerts={"a": 1}), "alerts: input should be a JSON array"),
    ],
)
def test_wrong_shapes_name_the_field(mutate: Any, message: str) -> None:
    error = _broken(mutate)
    assert str(error).startswith(message), str(error)
    assert error.http_status == 422


def test_not_an_object() -> None:
    with pytest.raises(InputError) as info:
        parse([1, 2])
    assert info.value.message == "body: input should be a JSON object"
    assert info.value.context == {"field": "body"}
