"""GET /api/v1/chat/messages and POST .../retry, with the console adapter delivering."""

from __future__ import annotations

import httpx
from sqlmodel import select

from bot.chat.outbox import OutboxMessage, OutboxStatus, enqueue
from bot.runtime import Runtime
from tests.chat.conftest import drained


async def _declare(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    answer = await client.post("/api/v1/incidents", json={"title": "churn model stale"}, headers=headers)
    assert answer.status_code == 201
    return str(answer.json()["ref"])


async def test_messages_of_an_incident_are_listed(
    client: httpx.AsyncClient, runtime: Runtime, tokens: dict[str, dict[str, str]]
) -> None:
    assert not runtime.chat.configured and runtime.chat.sender.kind == "console"
    ref = await _declare(client, tokens["write"])
    other = await _declare(client, tokens["write"])
    incident_id = int(ref.removeprefix("INC-"))
    async with runtime.db.transaction() as session:
        # Its own lane: the room (console adapter) also writes to the incident's lane.
        lane = f"test:{incident_id}"
        await enqueue(
            session,
            method="conversations.create",
            payload={"name": "inc-1-churn"},
            lane=lane,
            incident_id=incident_id,
        )
        await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": "CONSOLE1", "text": "INC-1 declared"},
            lane=lane,
            incident_id=incident_id,
        )
        await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": "C9", "text": "other"},
            lane="C9",
            incident_id=int(other.removeprefix("INC-")),
        )
    await drained(runtime.db)
    answer = await client.get(
        "/api/v1/chat/messages", params={"incident": ref, "lane": lane}, headers=tokens["read"]
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == 2
    assert [(m["method"], m["text"], m["status"], m["channel"]) for m in body["items"]] == [
        ("conversations.create", "inc-1-churn", "sent", None),
        ("chat.postMessage", "INC-1 declared", "sent", "CONSOLE1"),
    ]
    assert body["items"][0]["result"]["channel"]["id"].startswith("CONSOLE")
    assert all(m["incident"] == ref for m in body["items"])
    everything = await client.get(
        "/api/v1/chat/messages", params={"status": "sent", "limit": 1}, headers=tokens["read"]
    )
    # The three above plus whatever the room sent for the two incidents.
    assert everything.json()["total"] >= 3
    assert len(everything.json()["items"]) == 1


async def test_listing_needs_a_token_and_a_known_incident(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    assert (await client.get("/api/v1/chat/messages")).status_code == 401
    missing = await client.get("/api/v1/chat/messages", params={"incident": "INC-99"}, headers=tokens["read"])
    assert missing.status_code == 404
    bad_status = await client.get("/api/v1/chat/messages", params={"status": "lost"}, headers=tokens["read"])
    assert bad_status.status_code == 422


async def test_a_dead_message_can_be_sent_again(
    client: httpx.AsyncClient, runtime: Runtime, tokens: dict[str, dict[str, str]]
) -> None:
    async with runtime.db.transaction() as session:
        message = await enqueue(
            session, method="chat.postMessage", payload={"channel": "C1", "text": "x"}, lane="C1"
        )
        assert message is not None
        message.status, message.attempts, message.last_error = OutboxStatus.DEAD.value, 15, "HTTP 503"
    assert message.id is not None
    url = f"/api/v1/chat/messages/{message.id}/retry"
    assert (await client.post(url, headers=tokens["read"])).status_code == 403
    answer = await client.post(url, headers=tokens["write"])
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    (row,) = await drained(runtime.db)
    assert row.status == "sent"
    again = await client.post(url, headers=tokens["write"])
    assert again.status_code == 409 and "only dead or retrying" in again.json()["hint"]
    audit = await client.get("/api/v1/audit", headers=tokens["admin"])
    assert any(e["action"] == "chat.message_requeued" for e in audit.json())
    async with runtime.db.session() as session:
        assert (await session.exec(select(OutboxMessage))).one().attempts == 0
