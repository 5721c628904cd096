"""Silences: create, list, expire over the API; silenced alerts are stored but open nothing."""

from __future__ import annotations

from typing import Any

import pytest

from bot.incident.domain import Status
from tests.alert.conftest import Bot, am_payload, ml_alert

H = dict[str, dict[str, str]]


async def _silence(bot: Bot, tokens: H, **body: Any) -> dict[str, Any]:
    payload = {"matchers": ['model="fraud"'], "duration_s": 3600, "reason": "deploying a fix", **body}
    response = await bot.client.post("/api/v1/silences", json=payload, headers=tokens["write"])
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_silenced_alerts_are_stored_but_open_nothing(bot: Bot, tokens: H) -> None:
    silence = await _silence(bot, tokens)
    assert silence["state"] == "active" and silence["created_by"] == "test-write"
    assert silence["matchers"] == ['model="fraud"'] and silence["silenced_alerts"] == 0
    await bot.send("generic", ml_alert(labels={"model": "fraud"}))
    (alert,) = await bot.alerts()
    assert alert.silenced_by == silence["id"] and alert.incident_id is None
    assert await bot.incidents() == []
    await bot.send("generic", ml_alert(labels={"model": "ranker"}))
    assert len(await bot.incidents()) == 1


async def test_silencing_alerts_of_an_incident_is_on_its_timeline(bot: Bot, tokens: H) -> None:
    group = {"alertname": "Drift", "model": "fraud"}
    await bot.send(
        "alertmanager",
        am_payload([{"labels": {**group, "feature": f}} for f in ("age", "amount")], group=group),
    )
    silence = await _silence(bot, tokens, matchers=['model="fraud"', 'feature=~"am.*"'])
    assert silence["silenced_alerts"] == 1
    (event,) = await bot.timeline("INC-1", ("alert_silenced",))
    assert event.data["silence"] == silence["id"] and event.data["reason"] == "deploying a fix"
    assert event.data["alerts"][0]["title"] == "Drift firing"
    # Redelivery while silenced: no new event.
    await bot.send(
        "alertmanager",
        am_payload([{"labels": {**group, "feature": f}} for f in ("age", "amount")], group=group),
    )
    assert len(await bot.timeline("INC-1", ("alert_silenced",))) == 1


async def test_expired_silence_releases_alerts_that_then_open_an_incident(bot: Bot, tokens: H) -> None:
    silence = await _silence(bot, tokens)
    await bot.send("generic", ml_alert(labels={"model": "fraud"}))
    assert await bot.incidents() == []
    response = await bot.client.post(f"/api/v1/silences/{silence['id']}/expire", headers=tokens["write"])
    assert response.status_code == 200 and response.json()["state"] == "expired"
    assert response.json()["expired_by"] == "test-write"
    again = await bot.client.post(f"/api/v1/silences/{silence['id']}/expire", headers=tokens["write"])
    assert again.status_code == 409
    await bot.sweep(seconds=1)
    (incident,) = await bot.incidents()
    assert incident.status == Status.TRIGGERED
    (alert,) = await bot.alerts()
    assert alert.silenced_by is None and alert.incident_id == 1


async def test_a_silence_that_ends_by_itself_releases_alerts_too(bot: Bot, tokens: H) -> None:
    await _silence(bot, tokens, duration_s=60)
    await bot.send("generic", ml_alert(labels={"model": "fraud"}))
    await bot.sweep(seconds=30)
    assert await bot.incidents() == []
    await bot.sweep(seconds=31)
    assert len(await bot.incidents()) == 1


async def test_list_silences(bot: Bot, tokens: H) -> None:
    first = await _silence(bot, tokens)
    second = await _silence(bot, tokens, matchers=["team=risk"], starts_at="2099-01-01T00:00:00Z")
    await bot.client.post(f"/api/v1/silences/{first['id']}/expire", headers=tokens["write"])
    listed = (await bot.client.get("/api/v1/silences", headers=tokens["read"])).json()
    assert [(s["id"], s["state"]) for s in listed] == [(second["id"], "pending")]
    everything = (
        await bot.client.get("/api/v1/silences?include_expired=true", headers=tokens["read"])
    ).json()
    assert [s["state"] for s in everything] == ["pending", "expired"]
    assert second["matchers"] == ['team="risk"']


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"matchers": []}, "at least 1 item"),
        ({"matchers": ['team!="x"']}, "would silence every alert"),
        ({"matchers": ["team=~"]}, "would silence every alert"),
        ({"matchers": ["no operator"]}, "must look like"),
        ({"matchers": ['x=~"("']}, "invalid regex"),
        ({"duration_s": None}, "exactly one of duration_s or ends_at"),
        ({"ends_at": "2020-01-01T00:00:00Z", "duration_s": None}, "end in the past"),
        ({"starts_at": "2030-01-01T00:00:00"}, "needs a timezone"),
    ],
)
async def test_invalid_silences_are_refused(bot: Bot, tokens: H, body: dict[str, Any], message: str) -> None:
    payload = {"matchers": ['model="fraud"'], "duration_s": 3600, "reason": "r", **body}
    response = await bot.client.post("/api/v1/silences", json=payload, headers=tokens["write"])
    assert response.status_code == 422
    assert message in response.text


async def test_silences_need_a_write_token(bot: Bot, tokens: H) -> None:
    payload = {"matchers": ['model="fraud"'], "duration_s": 60, "reason": "r"}
    assert (await bot.client.post("/api/v1/silences", json=payload)).status_code == 401
    assert (
        await bot.client.post("/api/v1/silences", json=payload, headers=tokens["read"])
    ).status_code == 403


async def test_alerts_api_lists_and_filters(bot: Bot, tokens: H) -> None:
    await bot.send("generic", ml_alert(labels={"model": "fraud"}))
    await bot.send("alertmanager", am_payload([{"labels": {"alertname": "X"}}], group={"alertname": "X"}))
    await bot.send(
        "alertmanager",
        am_payload([{"labels": {"alertname": "X"}, "status": "resolved"}], group={"alertname": "X"}),
    )

    async def get(query: str) -> dict[str, Any]:
        response = await bot.client.get(f"/api/v1/alerts?{query}", headers=tokens["read"])
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    page = await get("")
    assert page["total"] == 2
    assert (await get("status=firing"))["items"][0]["source"] == "generic"
    assert (await get("source=alertmanager"))["items"][0]["status"] == "resolved"
    item = (await get("incident=INC-1"))["items"][0]
    assert item["incident"] == "INC-1" and item["count"] == 1 and item["route"] == "default"
    assert (await get("silenced=true"))["total"] == 0
    assert (await bot.client.get("/api/v1/alerts?incident=bogus", headers=tokens["read"])).status_code == 422
    inbox = await bot.client.get("/api/v1/alerts/inbox", headers=tokens["admin"])
    assert inbox.json() == {"pending": 0, "oldest_pending_at": None, "failed": 0, "recent_failures": []}
