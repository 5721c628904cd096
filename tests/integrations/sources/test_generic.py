from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.errors import InputError
from integrations.sources import generic
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.generic import GenericMapping
from integrations.sources.model import Link
from integrations.sources.registry import builtin_mapping
from tests.integrations.sources.conftest import NOW, load

CONTRACT = builtin_mapping("ml-monitor-contract")


def parse(body: Any, mapping: GenericMapping = CONTRACT, source: str = "feature-store-monitor") -> Any:
    return generic.parse(body, source_name=source, now=NOW, mapping=mapping)


def mapping(**fields: Any) -> GenericMapping:
    return GenericMapping.model_validate(fields)


def test_the_ml_monitor_contract_fixture() -> None:
    batch = parse(load("ml_monitor_generic_firing"))
    assert batch.kind == "generic"
    assert batch.source == "feature-store-monitor"
    (alert,) = batch.alerts
    labels = {
        "model": "fraud-detector",
        "feature_table": "user_features",
        "check": "freshness",
        "monitor": "freshness",
    }
    assert alert.labels == labels
    assert alert.fingerprint == labelset_fingerprint({**labels, "__source__": "feature-store-monitor"})
    assert alert.fingerprint == "d19bf71caa0e4c11"
    assert alert.status == "firing"
    assert alert.severity == "high"
    assert alert.raw_severity == "high"
    assert alert.title == "Feature table user_features stale for 3h"
    assert alert.description is None
    assert alert.annotations == {"lag_seconds": "10820", "threshold_seconds": "3600"}
    assert alert.starts_at == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.expires_in_s == 900
    assert alert.group_key is None
    assert alert.links == []
    assert alert.raw == load("ml_monitor_generic_firing")


@pytest.mark.parametrize("word", ["resolved", "ok", "OK", "Recovered"])
def test_contract_resolve_words(word: str) -> None:
    body = load("ml_monitor_generic_firing") | {"status": word, "resolved_at": 1763622000}
    alert = parse(body).alerts[0]
    assert alert.status == "resolved"
    assert alert.fingerprint == "d19bf71caa0e4c11"
    assert alert.ends_at == datetime(2025, 11, 20, 7, 0, tzinfo=UTC)


def test_the_same_monitor_under_another_source_name_is_another_alert() -> None:
    body = load("ml_monitor_generic_firing")
    assert parse(body, source="other-monitor").alerts[0].fingerprint != "d19bf71caa0e4c11"


def test_unknown_status_is_refused_with_the_accepted_words() -> None:
    body = load("ml_monitor_generic_firing") | {"status": "maybe"}
    with pytest.raises(InputError) as info:
        parse(body)
    assert info.value.message == "status: unknown status 'maybe'"
    assert "accepted values: alert, alerting, firing, ok, recovered, resolved" in str(info.value)


def test_missing_status_uses_the_default() -> None:
    body = load("ml_monitor_generic_firing")
    del body["status"]
    assert parse(body).alerts[0].status == "firing"
    strict = mapping(status={"path": "state", "default": None})
    with pytest.raises(InputError, match=r"^state: field required"):
        parse(body, strict)


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", "critical"),
        ("P2", "high"),
        ("medium", "warning"),
        ("low", "info"),
        ("bananas", "warning"),
    ],
)
def test_contract_severity_words(word: str, severity: str) -> None:
    alert = parse(load("ml_monitor_generic_firing") | {"severity": word}).alerts[0]
    assert alert.severity == severity
    assert alert.raw_severity == word


def test_fingerprint_path() -> None:
    body = load("ml_monitor_generic_firing") | {"fingerprint": "0F3A38A89D70E03A"}
    assert parse(body).alerts[0].fingerprint == "0f3a38a89d70e03a"
    body["fingerprint"] = "freshness/user_features"
    assert parse(body).alerts[0].fingerprint == labelset_fingerprint(
        {"__source__": "feature-store-monitor", "__key__": "freshness/user_features"}
    )


def test_without_source_the_fingerprint_equals_alertmanagers() -> None:
    """One alert sent through Alertmanager and through a generic sender dedupes to one."""
    am_alert = load("alertmanager_v4_firing")["alerts"][0]
    same_labels = mapping(labels={"object": "labels"}, fingerprint_includes_source=False)
    alert = parse({"labels": am_alert["labels"]}, same_labels).alerts[0]
    assert alert.fingerprint == am_alert["fingerprint"] == "0f3a38a89d70e03a"


def test_a_list_of_alerts_with_root_fields() -> None:
    batch_mapping = mapping(
        alerts="$.results",
        status={"path": "passed", "map": {"true": "resolved", "false": "firing"}},
        severity={"path": "$.level"},
        title="name",
        labels={"fields": {"model": "$.model", "feature": "feature"}, "static": {"team": "ml"}},
        annotations={"fields": {"psi": "psi"}},
        starts_at="$.run_at",
        group_key="$.run_id",
        default_expires_in_s=3600,
        links=[{"href": "$.report_url", "text": "Drift report"}, {"href": "bad", "text": "x"}],
    )
    body: dict[str, Any] = {
        "model": "churn",
        "level": "warning",
        "run_id": "r-7",
        "run_at": 1763632800000,
        "report_url": "https://reports.example/r-7",
        "bad": "file:///etc/passwd",
        "results": [
            {"name": "PSI drift on tenure", "feature": "tenure", "passed": False, "psi": 0.31},
            {"name": "PSI drift on plan", "feature": "plan", "passed": True, "psi": 0.02},
        ],
    }
    first, second = parse(body, batch_mapping, source="drift").alerts
    assert (first.status, second.status) == ("firing", "resolved")
    assert first.labels == {"model": "churn", "feature": "tenure", "team": "ml"}
    assert first.annotations == {"psi": "0.31"}
    assert first.title == "PSI drift on tenure"
    assert first.severity == "warning"
    assert first.group_key == "r-7"
    assert first.expires_in_s == 3600
    assert first.starts_at == datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
    assert first.links == [Link(href="https://reports.example/r-7", text="Drift report")]
    assert first.raw == body["results"][0]
    assert first.fingerprint != second.fingerprint


def test_title_template_and_fallbacks() -> None:
    templated = mapping(
        labels={"object": "labels"}, title_template="$alertname on ${model} (${missing}) [$severity]"
    )
    body = {"labels": {"alertname": "Drift", "model": "churn"}}
    assert parse(body, templated).alerts[0].title == "Drift on churn () [warning]"
    assert parse(body, mapping(labels={"object": "labels"})).alerts[0].title == "Drift"
    assert parse({}, mapping()).alerts[0].title == "feature-store-monitor alert"


def test_ignore_when() -> None:
    pinged = mapping(ignore_when={"path": "$.event", "values": ["validate"]}, alerts="items")
    assert parse({"event": "Validate"}, pinged).alerts == []
    with pytest.raises(InputError, match=r"^items: field required"):
        parse({"event": "other"}, pinged)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "firing", "labels": [1]}, "labels: expected an object, got an array"),
        ({"expires_in_s": -1}, "expires_in_s: expected a whole number of seconds >= 0, got -1"),
        ({"expires_in_s": True}, "expires_in_s: expected a whole number"),
        ({"expires_in_s": 1.5}, "expires_in_s: expected a whole number"),
        ({"expires_in_s": "soon"}, "expires_in_s: expected a whole number"),
        ({"detected_at": "last tuesday"}, "detected_at: not an RFC 3339 timestamp"),
        ({"detected_at": -5}, "detected_at: not a valid epoch time"),
        ({"detected_at": 10**30}, "detected_at: epoch time out of range"),
    ],
)
def test_wrong_shapes_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(body)
    assert info.value.message.startswith(message), info.value.message


def test_accepted_expiry_and_time_forms() -> None:
    alert = parse({"expires_in_s": "600", "detected_at": "2026-11-20T06:00:00"}).alerts[0]
    assert alert.expires_in_s == 600
    assert alert.starts_at == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # no offset: UTC
    assert parse({"expires_in_s": 60.0}).alerts[0].expires_in_s == 60


def test_alerts_path_errors() -> None:
    listed = mapping(alerts="alerts")
    with pytest.raises(InputError, match=r"^alerts: expected an array of alerts, got an object"):
        parse({"alerts": {}}, listed)
    with pytest.raises(InputError, match=r"^alerts\[1\]: expected an alert object, got a number"):
        parse({"alerts": [{}, 3]}, listed)
    with pytest.raises(InputError, match=r"^body: expected an alert object, got a string"):
        parse("text", mapping())


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"alerts": "a..b"}, "cannot read"),
        ({"status": {"map": {"ok": "fine"}}}, "status.map.ok"),
        ({"severity": {"default": "urgent"}}, "severity.default"),
        ({"title_template": "bad ${"}, "title_template\n  Value error, not a \\$name template"),
        ({"labels": {"objects": "labels"}}, "labels.objects"),
        ({"default_expires_in_s": -1}, "default_expires_in_s"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_invalid_mappings_are_refused(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        GenericMapping.model_validate(fields)
