"""The mappings shipped in integrations/sources/mappings/ against documented payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import InputError
from integrations.sources import generic
from integrations.sources.fingerprint import labelset_fingerprint
from integrations.sources.model import Link
from integrations.sources.registry import builtin_mapping, builtin_mapping_names
from tests.integrations.sources.conftest import NOW, load

SODA = builtin_mapping("soda-cloud")
FRESHNESS_CHECK = "checks for user_features:\nfreshness(updated_at) < 1h"


def parse(body: Any) -> Any:
    return generic.parse(body, source_name="soda", now=NOW, mapping=SODA)


def test_every_shipped_mapping_loads() -> None:
    assert builtin_mapping_names() == ["ml-monitor-contract", "soda-cloud"]
    for name in builtin_mapping_names():
        assert builtin_mapping(name).about


def test_soda_check_evaluation_fail() -> None:
    batch = parse(load("soda_check_evaluation_fail"))
    freshness, missing = batch.alerts
    labels = {
        "dataset": "user_features",
        "datasource": "feature_store",
        "column": "updated_at",
        "check": FRESHNESS_CHECK,
        "alertname": "SodaCheck",
    }
    assert freshness.labels == labels
    assert freshness.fingerprint == labelset_fingerprint({**labels, "__source__": "soda"})
    assert freshness.status == "firing"
    assert freshness.severity == "high"
    assert freshness.raw_severity == "fail"
    assert freshness.title == "Soda check fail on feature_store.user_features"
    assert freshness.description == FRESHNESS_CHECK
    assert freshness.annotations == {
        "definition": FRESHNESS_CHECK,
        "diagnostic_value": "10820.0",
        "agreement": "Fraud features are fresh",
        "check_result_id": "5b1f9c2e-7d43-4a8e-9f0a-1c2d3e4f5a6b",
    }
    assert freshness.starts_at == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert freshness.expires_in_s == 86400
    assert freshness.links == [
        Link(
            href="https://cloud.soda.io/checks/8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d", text="Soda Cloud check"
        ),
        Link(
            href="https://cloud.soda.io/datasets/d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
            text="Soda Cloud dataset",
        ),
        Link(href="https://cloud.soda.io/agreements/AGREEMENT-7f3a-0000-0000-0", text="Soda Cloud agreement"),
    ]
    assert missing.status == "firing"
    assert missing.severity == "warning"
    assert missing.labels["column"] == "days_since_signup"
    assert "agreement" not in missing.annotations
    assert missing.fingerprint != freshness.fingerprint


def test_soda_pass_resolves_the_failed_check() -> None:
    failed = parse(load("soda_check_evaluation_fail")).alerts[0]
    (passed,) = parse(load("soda_check_evaluation_pass")).alerts
    assert passed.status == "resolved"
    assert passed.fingerprint == failed.fingerprint
    assert passed.annotations["check_result_id"] != failed.annotations["check_result_id"]


@pytest.mark.parametrize("event", ["validate", "incidentCreated", "incidentUpdated"])
def test_soda_events_without_check_results_carry_no_alert(event: str) -> None:
    assert parse({"event": event, "sentAt": "2026-11-20T09:12:10.042323Z"}).alerts == []


def test_soda_error_and_unknown_outcomes() -> None:
    body = load("soda_check_evaluation_pass")
    body["checkResults"][0]["outcome"] = "error"
    alert = parse(body).alerts[0]
    assert (alert.status, alert.severity) == ("firing", "info")
    body["checkResults"][0]["outcome"] = "skipped"
    with pytest.raises(InputError, match=r"^checkResults\[0\]\.outcome: unknown status 'skipped'"):
        parse(body)
    del body["checkResults"][0]["outcome"]
    with pytest.raises(InputError, match=r"^checkResults\[0\]\.outcome: field required"):
        parse(body)
