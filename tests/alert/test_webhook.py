"""POST /webhooks/{source}: every sender's real format accepted, and what must be refused."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from bot.alert.models import AlertInbox
from bot.alert.webhook import _json
from tests.alert.conftest import Bot, BotFactory, auth_headers, fixture

FIXTURE_OF = {
    "alertmanager": "alertmanager_v4_firing.json",
    "grafana": "grafana_webhook_firing.json",
    "pagerduty": "pagerduty_events_v2_trigger.json",
    "datadog": "datadog_webhook_triggered.json",
    "generic": "ml_monitor_generic_firing.json",
}


@pytest.mark.parametrize("source", list(FIXTURE_OF))
async def test_each_sender_is_accepted_stored_and_opens_an_incident(bot: Bot, source: str) -> None:
    payload = fixture(FIXTURE_OF[source])
    response = await bot.post(source, payload)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Event processed" and body["alerts"] >= 1
    (row,) = await bot.inbox()
    assert row.source == source and row.kind == source and row.alert_count == body["alerts"]
    await bot.settled()
    alerts = await bot.alerts()
    assert len(alerts) == body["alerts"]
    assert {a.source for a in alerts} == {source}
    (incident,) = await bot.incidents()
    assert incident.ref == "INC-1" and incident.status.value == "triggered"
    assert all(a.incident_id == 1 for a in alerts)


async def test_default_sources_refuse_everything_until_a_credential_is_configured(
    bot_factory: BotFactory,
) -> None:
    async with bot_factory(sources={}) as bot:
        for source, name in FIXTURE_OF.items():
            response = await bot.post(source, fixture(name), auth=False)
            assert response.status_code == 401, response.text
            assert "no credential configured" in response.json()["detail"]
            assert f"alerts.sources.{source}.auth" in response.json()["hint"]
        assert await bot.inbox() == []


@pytest.mark.parametrize(
    ("source", "headers", "message"),
    [
        ("alertmanager", {}, "missing Authorization header"),
        ("alertmanager", {"Authorization": "Bearer wrong"}, "bearer token does not match"),
        ("alertmanager", {"Authorization": "Basic YTpi"}, "does not use the Bearer scheme"),
        ("datadog", {"Authorization": "Basic ZGF0YWRvZzp3cm9uZw=="}, "username or password does not match"),
        ("grafana", {"X-Grafana-Alerting-Signature": "00" * 32, "X-Grafana-Alerting-Timestamp": "1"}, ""),
        ("generic", {"X-Signature": "sha256=" + "00" * 32, "X-Timestamp": "1"}, "does not match"),
    ],
)
async def test_wrong_credentials_are_refused_and_store_nothing(
    bot: Bot, source: str, headers: dict[str, str], message: str
) -> None:
    response = await bot.post(source, fixture(FIXTURE_OF[source]), headers=headers, auth=False)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert await bot.inbox() == []
    assert "token-0123" not in response.text and "hmac-secret" not in response.text


async def test_basic_and_bearer_challenges(bot: Bot) -> None:
    response = await bot.post("datadog", fixture(FIXTURE_OF["datadog"]), auth=False)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="incident-bot"'
    response = await bot.post("alertmanager", fixture(FIXTURE_OF["alertmanager"]), auth=False)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_signature_must_cover_the_body_sent(bot: Bot) -> None:
    payload = fixture(FIXTURE_OF["grafana"])
    assert (await bot.post("grafana", payload)).status_code == 202
    headers = auth_headers("grafana", b'{"other": "body"}', bot.clock())
    response = await bot.client.post("/webhooks/grafana", json=payload, headers=headers)
    assert response.status_code == 401 and "does not match the body" in response.json()["detail"]


async def test_unauthenticated_source_needs_allow_unauthenticated_and_warns(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.alert.sources")
    async with bot_factory(sources={"open": {"kind": "alertmanager", "allow_unauthenticated": True}}) as bot:
        response = await bot.post("open", fixture(FIXTURE_OF["alertmanager"]), auth=False)
        assert response.status_code == 202
    assert any("'open' accepts webhooks WITHOUT authentication" in r.getMessage() for r in caplog.records)


async def test_missing_secret_at_start_up_is_a_config_error(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.errors import ConfigError

    monkeypatch.delenv("AM_TOKEN")
    with pytest.raises(
        ConfigError, match=r"alerts.sources.alertmanager.auth.token: environment variable AM_TOKEN"
    ):
        async with bot_factory():
            pass


async def test_unknown_source_is_404(bot: Bot) -> None:
    response = await bot.post("nagios", {"x": 1}, auth=False)
    assert response.status_code == 404 and "no alert source named 'nagios'" in response.json()["detail"]


async def test_invalid_json_is_400_naming_the_error(bot: Bot) -> None:
    response = await bot.post("alertmanager", b'{"alerts": [}')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not valid JSON: Expecting value at line 1 column 13")
    response = await bot.post("alertmanager", b"\xff\xfe")
    assert response.status_code == 400 and response.json()["detail"] == "body is not UTF-8 encoded JSON"
    assert await bot.inbox() == []


@pytest.mark.parametrize(
    ("source", "payload", "field"),
    [
        ("alertmanager", {"version": "4", "status": "firing"}, "alerts"),
        ("alertmanager", {"alerts": [{"status": "firing"}]}, "alerts[0].labels"),
        ("alertmanager", {"alerts": [{"status": "burning", "labels": {}}]}, "alerts[0].status"),
        ("pagerduty", {"routing_key": "abc", "event_action": "trigger"}, "payload"),
        ("pagerduty", {"routing_key": "abc", "event_action": "resolve"}, "dedup_key"),
        ("grafana", [1, 2], "body"),
    ],
)
async def test_wrong_shape_is_422_naming_the_field(bot: Bot, source: str, payload: Any, field: str) -> None:
    response = await bot.post(source, payload)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert field in response.json()["detail"]
    assert await bot.inbox() == []


async def test_unknown_extra_fields_are_accepted(bot: Bot) -> None:
    payload = fixture(FIXTURE_OF["alertmanager"])
    payload["someFutureField"] = {"nested": [1, 2]}
    payload["alerts"][0]["anotherNewField"] = True
    assert (await bot.post("alertmanager", payload)).status_code == 202


async def test_body_over_the_limit_is_413_by_content_length(bot_factory: BotFactory) -> None:
    async with bot_factory(intake={"max_body_bytes": 2048}) as bot:
        payload = fixture(FIXTURE_OF["alertmanager"])
        payload["padding"] = "x" * 4000
        response = await bot.post("alertmanager", payload)
        assert response.status_code == 413 and "larger than 2048 bytes" in response.json()["detail"]
        assert await bot.inbox() == []


async def test_body_over_the_limit_is_413_while_streaming(bot_factory: BotFactory) -> None:
    """No Content-Length (chunked): the limit is enforced while reading, chunk by chunk."""
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    async with bot_factory(intake={"max_body_bytes": 4096}) as bot:
        headers = {"Authorization": "Bearer am-token-0123"}
        response = await bot.client.post("/webhooks/alertmanager", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert len(sent) < 1000  # stopped reading early
        assert await bot.inbox() == []


async def test_pagerduty_gets_its_generated_dedup_key_back_and_can_resolve_with_it(bot: Bot) -> None:
    trigger = fixture("pagerduty_events_v2_trigger.json")
    del trigger["dedup_key"]
    response = await bot.send("pagerduty", trigger)
    dedup_key = response.json()["dedup_key"]
    assert len(dedup_key) == 32
    (row,) = await bot.inbox()
    assert row.assigned == {"dedup_key": dedup_key}
    resolve = {"routing_key": trigger["routing_key"], "event_action": "resolve", "dedup_key": dedup_key}
    await bot.send("pagerduty", resolve)
    (alert,) = await bot.alerts()
    assert alert.status == "resolved" and alert.count == 2
    (incident,) = await bot.incidents()
    assert incident.status.value == "mitigated"


async def test_redelivery_is_idempotent(bot: Bot) -> None:
    payload = fixture(FIXTURE_OF["alertmanager"])
    for _ in range(3):
        await bot.send("alertmanager", payload)
    alerts = await bot.alerts()
    assert len(alerts) == 2 and {a.count for a in alerts} == {3}
    (incident,) = await bot.incidents()
    joined = await bot.timeline(incident.ref, ("alert_joined",))
    assert len(joined) == 1 and joined[0].data["count"] == 2
    assert len(await bot.inbox()) == 3


async def test_metrics_count_received_refused_stored_and_deduplicated(bot: Bot) -> None:
    payload = fixture(FIXTURE_OF["alertmanager"])
    await bot.send("alertmanager", payload)
    await bot.send("alertmanager", payload)
    await bot.post("alertmanager", payload, auth=False)
    await bot.post("alertmanager", b"nope")
    await bot.processor.update_lag()
    text = generate_latest(bot.runtime.metrics.registry).decode()
    assert 'incident_bot_alerts_received_total{source="alertmanager"} 4.0' in text
    assert 'incident_bot_alerts_stored_total{source="alertmanager"} 2.0' in text
    assert 'incident_bot_alerts_deduplicated_total{source="alertmanager"} 2.0' in text
    assert (
        'incident_bot_alert_requests_refused_total{reason="unauthenticated",source="alertmanager"} 1.0'
        in text
    )
    assert (
        'incident_bot_alert_requests_refused_total{reason="invalid_json",source="alertmanager"} 1.0' in text
    )
    assert "incident_bot_alert_inbox_pending 0.0" in text
    assert "incident_bot_alert_inbox_lag_seconds 0.0" in text
    scraped = await bot.client.get("/metrics")
    assert "incident_bot_alerts_received_total" in scraped.text


async def test_inbox_keeps_the_raw_body(bot: Bot) -> None:
    raw = b'{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"}}],  "x": 1}'
    await bot.send("alertmanager", raw)
    rows = await bot.inbox()
    assert rows[0].body.encode() == raw
    assert isinstance(rows[0], AlertInbox) and rows[0].processed_at is not None


def test_answers_stay_json_when_a_detail_echoes_a_lone_surrogate() -> None:
    """Replies are written by pydantic-core, which refuses lone surrogates (not UTF-8): such a
    detail is escaped instead of failing the reply with a 500."""
    body = {"detail": "field 'a\ud800b' is missing", "alerts": 2, "note": "ünïcode"}
    response = _json(422, body)
    assert response.status_code == 422
    assert json.loads(response.body) == body
    assert _json(202, {"note": "ünïcode"}).body == '{"note":"ünïcode"}'.encode()
