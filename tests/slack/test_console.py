"""Without Slack credentials: no Slack route, and the console adapter carries the same room."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.chat.service import list_messages
from bot.config import load_settings
from bot.incident import flows as incident_flows
from bot.incident.domain import Status
from bot.incident.schemas import IncidentCreate
from bot.runtime import Runtime


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


async def test_a_configured_group_is_invited_quietly_on_the_console(db_url: str, tmp_path: Path) -> None:
    """@ml-oncall is the on-call group and a responder: without Slack it has no members, and
    inviting it is no error on the timeline."""
    settings = load_settings(database_url=db_url, slack={"oncall_group": "@ml-oncall"})
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        incident = await incident_flows.declare_incident(
            runtime.db,
            IncidentCreate(title="Fraud model errors", responders=["@ml-oncall"]),
            SYSTEM,
            authz=runtime.authz,
        )
        sent: list[str] = []
        for _ in range(200):
            async with runtime.db.session() as session:
                messages, _total = await list_messages(session, incident_id=1)
            sent = [m.method for m in messages if m.status == "sent"]
            if "usergroups.list" in sent and "pins.add" in sent:
                break
            await asyncio.sleep(0.05)
        assert "usergroups.list" in sent
        timeline = await incident_flows.get_timeline(runtime.db, incident.ref)
        assert [e.text for e in timeline if e.kind == "chat_error"] == []
    await runtime.db.dispose()
