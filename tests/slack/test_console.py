"""Without Slack credentials: no Slack route, and the console adapter carries the same room."""

from __future__ import annotations

import asyncio

import httpx

from bot.incident.domain import Status


async def test_no_slack_route_and_the_room_runs_on_the_console(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    assert (await client.post("/slack/events", content="{}")).status_code == 404
    r = await client.post(
        "/api/v1/incidents",
        json={"title": "Ranker returns stale results", "severity": "SEV2", "responders": ["U1"]},
        headers=tokens["write"],
    )
    assert r.status_code == 201
    incident: dict[str, object] = {}
    for _ in range(200):
        incident = (await client.get("/api/v1/incidents/INC-1", headers=tokens["read"])).json()
        messages = (await client.get("/api/v1/chat/messages?incident=INC-1", headers=tokens["read"])).json()
        methods = [(m["method"], m["status"]) for m in messages["items"]]
        if incident["chat_channel_id"] and ("pins.add", "sent") in methods:
            break
        await asyncio.sleep(0.05)
    assert str(incident["chat_channel_id"]).startswith("CONSOLE")
    assert incident["chat_channel_name"] == "inc-1-ranker-returns-stale-results"
    assert [m for m, _ in methods] == [
        "conversations.create",
        "conversations.invite",
        "chat.postMessage",
        "pins.add",
    ]
    assert {s for _, s in methods} == {"sent"}
    assert incident["status"] == Status.TRIGGERED
