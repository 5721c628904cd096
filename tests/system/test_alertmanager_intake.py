"""A real Alertmanager pages a real bot: incidents opened, grouping, resolution, credentials.

Alerts go to Alertmanager's own API; Alertmanager groups them (by alertname and model) and
posts webhook notifications with the credentials of its ``http_config`` to the bot running
under uvicorn. The assertions read the bot's REST API.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from tests.system.fixtures.alertmanager import RunningAlertmanager, RunningBot, alert_bot, alertmanager

__all__ = ["alert_bot", "alertmanager"]  # module-scoped fixtures used below

pytestmark = pytest.mark.system

T = TypeVar("T")
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)


def eventually(check: Callable[[], T], timeout_s: float = 30.0) -> T:
    """Poll ``check`` until it returns a truthy value without raising AssertionError."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_s}s: {check.__name__}")
        time.sleep(0.25)


def _alert(labels: dict[str, str], ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": f"{labels['model']} {labels['alertname']} on {labels.get('instance', '-')}",
            "runbook_url": "https://runbooks.example.com/rollback-model",
        },
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "startsAt": STARTED.isoformat(),
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


FRAUD = {"alertname": "ModelErrorRateHigh", "model": "fraud-detector", "severity": "critical"}
CHURN = {"alertname": "FeatureDriftHigh", "model": "churn", "severity": "warning"}


def _incident_of(bot: RunningBot, model: str) -> dict[str, Any]:
    items = bot.api("/incidents", label=f"model={model}")["items"]
    assert len(items) == 1, items
    return items[0]  # type: ignore[no-any-return]


def test_alertmanager_groups_open_one_incident_each_and_resolve(
    alert_bot: RunningBot, alertmanager: RunningAlertmanager
) -> None:
    fraud = [_alert({**FRAUD, "instance": f"scoring-{i}:8080"}) for i in range(2)]
    alertmanager.post([*fraud, _alert({**CHURN, "instance": "trainer-0"})])

    def two_incidents() -> list[dict[str, Any]]:
        page = alert_bot.api("/incidents")
        assert page["total"] == 2, page["total"]
        return page["items"]  # type: ignore[no-any-return]

    eventually(two_incidents)
    incident = _incident_of(alert_bot, "fraud-detector")
    assert incident["severity"] == "SEV1" and incident["origin"] == "alert"
    assert incident["title"] == "fraud-detector ModelErrorRateHigh on scoring-0:8080 (+1 more alerts)"
    assert incident["models"] == ["fraud-detector"]
    assert _incident_of(alert_bot, "churn")["severity"] == "SEV3"

    # The bot's fingerprints are Alertmanager's, and the group's alerts are on one incident.
    theirs = {a["fingerprint"] for a in alertmanager.alerts() if a["labels"]["model"] == "fraud-detector"}
    ours = alert_bot.api("/alerts", incident=incident["ref"])["items"]
    assert {a["fingerprint"] for a in ours} == theirs and len(theirs) == 2

    # A third alert of the same group joins the same incident.
    third = _alert({**FRAUD, "instance": "scoring-2:8080"})
    alertmanager.post([*fraud, third])
    eventually(lambda: alert_bot.api("/alerts", incident=incident["ref"])["total"] == 3)
    assert alert_bot.api("/incidents")["total"] == 2

    # The alerts end: Alertmanager sends "resolved"; the incident is noted and mitigated.
    ended = datetime.now(UTC) - timedelta(seconds=1)
    alertmanager.post([_alert(a["labels"], ends=ended) for a in [*fraud, third]])

    def mitigated() -> dict[str, Any]:
        current = _incident_of(alert_bot, "fraud-detector")
        assert current["status"] == "mitigated", current["status"]
        return current

    eventually(mitigated)
    ours = {"declared", "alert_joined", "alert_resolved", "alerts_resolved", "status_changed"}
    events = alert_bot.api(f"/incidents/{incident['ref']}/timeline")
    kinds = [e["kind"] for e in events if e["kind"] in ours]  # the chat layer adds its own
    assert kinds[0] == "declared"
    assert "alert_joined" in kinds and "alert_resolved" in kinds
    assert kinds[-2:] == ["alerts_resolved", "status_changed"]
    resolved = alert_bot.api("/alerts", incident=incident["ref"], status="resolved")
    assert resolved["total"] == 3
    assert _incident_of(alert_bot, "churn")["status"] == "triggered"


def test_bearer_credentials_and_a_wrong_password(
    alert_bot: RunningBot, alertmanager: RunningAlertmanager
) -> None:
    alertmanager.post([_alert({"alertname": "LatencyHigh", "model": "ranker", "auth": "bearer"})])
    ranker = eventually(lambda: _incident_of(alert_bot, "ranker"))
    (alert,) = alert_bot.api("/alerts", incident=ranker["ref"])["items"]
    assert alert["source"] == "alertmanager-bearer"

    alertmanager.post([_alert({"alertname": "Wrong", "model": "pricing", "auth": "wrong"})])
    # Alertmanager drops a notification refused with a 4xx: nothing is retried or stored.
    eventually(lambda: "unexpected status code 401" in alertmanager.log.read_text(), timeout_s=30)
    assert alert_bot.api("/incidents", label="model=pricing")["total"] == 0
    assert alert_bot.api("/alerts", status="firing", source="alertmanager")["total"] == 1  # churn only
    metrics = httpx.get(f"{alert_bot.url}/metrics", timeout=10).text
    assert (
        'incident_bot_alert_requests_refused_total{reason="unauthenticated",source="alertmanager"}' in metrics
    )


def test_alertmanager_retries_while_the_bot_cannot_commit(
    alert_bot: RunningBot, alertmanager: RunningAlertmanager
) -> None:
    """Where the bot commits webhooks is locked (the intake spool beside its SQLite database):
    it answers 503 (never 2xx, never 4xx), Alertmanager retries, and the alert lands once the
    lock is gone."""
    database = sqlite3.connect(alert_bot.workdir / "bot.intake.db", isolation_level=None, timeout=1)
    database.execute("BEGIN IMMEDIATE")
    try:
        alertmanager.post([_alert({"alertname": "QueueBacklog", "model": "recommender"})])
        eventually(lambda: "unexpected status code 503" in alertmanager.log.read_text(), timeout_s=30)
        assert alert_bot.api("/incidents", label="model=recommender")["total"] == 0
    finally:
        database.rollback()
        database.close()
    incident = eventually(lambda: _incident_of(alert_bot, "recommender"), timeout_s=60)
    assert incident["status"] == "triggered"
