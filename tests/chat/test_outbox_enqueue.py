"""enqueue: in the caller's transaction, dedupe, coalescing, validation; the hooks registry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.auth.actor import SYSTEM
from bot.chat.outbox import (
    ENQUEUED,
    OutboxHooks,
    OutboxMessage,
    OutboxStatus,
    enqueue,
    incident_lane,
)
from bot.db import Database, utcnow
from bot.errors import ConflictError, InputError
from bot.incident import flows
from bot.incident.schemas import IncidentCreate
from tests.access import OPEN


async def _incident(db: Database) -> int:
    out = await flows.declare_incident(db, IncidentCreate(title="fraud model latency"), SYSTEM, authz=OPEN)
    return int(out.ref.removeprefix("INC-"))


async def _rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def test_message_exists_iff_the_transaction_commits(db: Database) -> None:
    incident_id = await _incident(db)

    class RolledBackError(Exception):
        pass

    async def change_that_fails() -> None:
        async with db.transaction() as session:
            await enqueue(
                session, method="chat.postMessage", payload={"channel": "C1", "text": "lost"}, lane="C1"
            )
            raise RolledBackError

    with pytest.raises(RolledBackError):
        await change_that_fails()
    assert await _rows(db) == []
    async with db.transaction() as session:
        message = await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": "C1", "text": "kept"},
            lane=incident_lane(incident_id),
            incident_id=incident_id,
            on_result="card_posted",
        )
    assert message is not None
    (row,) = await _rows(db)
    assert (row.lane, row.method, row.payload["text"], row.status) == (
        f"incident:{incident_id}",
        "chat.postMessage",
        "kept",
        OutboxStatus.PENDING,
    )
    assert (row.incident_id, row.on_result, row.attempts, row.sent_at) == (
        incident_id,
        "card_posted",
        0,
        None,
    )


async def test_commit_wakes_the_worker(db: Database) -> None:
    seen: list[list[Any]] = []
    db.commit_hooks.append(seen.append)
    async with db.transaction() as session:
        await enqueue(session, method="chat.postMessage", payload={"channel": "C1", "text": "x"}, lane="C1")
    assert seen == [[ENQUEUED]]


async def test_dedupe_key_makes_enqueue_a_no_op(db: Database) -> None:
    async with db.transaction() as session:
        first = await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": "C1", "text": "a"},
            lane="C1",
            dedupe_key="k1",
        )
        again = await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": "C1", "text": "b"},
            lane="C1",
            dedupe_key="k1",
        )
    assert first is not None and again is None
    assert [r.payload["text"] for r in await _rows(db)] == ["a"]


async def test_concurrent_dedupe_keeps_one_row(db: Database) -> None:
    started = asyncio.Event()

    async def add(text: str) -> OutboxMessage | None:
        async with db.transaction() as session:
            started.set()
            message = await enqueue(
                session,
                method="chat.postMessage",
                payload={"channel": "C1", "text": text},
                lane="C1",
                dedupe_key="k",
            )
            await asyncio.sleep(0.05)
            return message

    results = await asyncio.gather(add("a"), add("b"))
    assert sum(r is not None for r in results) == 1
    assert len(await _rows(db)) == 1


async def test_coalescing_replaces_the_waiting_message_in_place(db: Database) -> None:
    async with db.transaction() as session:
        await enqueue(session, method="chat.postMessage", payload={"channel": "C1", "text": "card"}, lane="L")
        await enqueue(
            session,
            method="chat.update",
            payload={"channel": "C1", "ts": "1.0", "text": "v1"},
            lane="L",
            coalesce_key="card:1",
        )
        await enqueue(session, method="chat.postMessage", payload={"channel": "C1", "text": "note"}, lane="L")
    async with db.transaction() as session:
        replaced = await enqueue(
            session,
            method="chat.update",
            payload={"channel": "C1", "ts": "1.0", "text": "v2"},
            lane="L",
            coalesce_key="card:1",
        )
    rows = await _rows(db)
    assert [r.payload["text"] for r in rows] == ["card", "v2", "note"]
    assert replaced is not None and replaced.id == rows[1].id


async def test_coalescing_never_touches_a_message_in_flight_or_sent(db: Database) -> None:
    async with db.transaction() as session:
        first = await enqueue(
            session,
            method="chat.update",
            payload={"channel": "C1", "ts": "1.0", "text": "v1"},
            lane="L",
            coalesce_key="c",
        )
        assert first is not None
        first.lease_owner, first.lease_until = "worker-1", utcnow() + timedelta(seconds=60)
    async with db.transaction() as session:
        second = await enqueue(
            session,
            method="chat.update",
            payload={"channel": "C1", "ts": "1.0", "text": "v2"},
            lane="L",
            coalesce_key="c",
        )
        assert second is not None and second.id != first.id
        second.status = OutboxStatus.SENT.value
    async with db.transaction() as session:
        third = await enqueue(
            session,
            method="chat.update",
            payload={"channel": "C1", "ts": "1.0", "text": "v3"},
            lane="L",
            coalesce_key="c",
        )
    assert third is not None and third.id not in (first.id, second.id)
    assert [r.payload["text"] for r in await _rows(db)] == ["v1", "v2", "v3"]


@pytest.mark.parametrize(
    ("method", "payload", "expected"),
    [
        ("chat.delete", {"channel": "C1"}, "unknown chat method 'chat.delete'"),
        ("chat.postMessage", {"channel": "C1", "token": "xoxb-1"}, "secret-looking argument: token"),
        ("chat.postMessage", {"channel": "C1", "at": utcnow()}, "is not JSON"),
    ],
)
async def test_invalid_messages_are_refused(
    db: Database, method: str, payload: dict[str, Any], expected: str
) -> None:
    async with db.transaction() as session:
        with pytest.raises(InputError, match=expected) as err:
            await enqueue(session, method=method, payload=payload, lane="L")
    assert "xoxb-1" not in str(err.value)


def test_hooks_refuse_a_second_handler_with_the_same_name() -> None:
    hooks = OutboxHooks()

    async def handler(session: Any, message: OutboxMessage, response: dict[str, Any]) -> None:
        return None

    hooks.register_result_handler("card_posted", handler)
    with pytest.raises(ConflictError, match="card_posted"):
        hooks.register_result_handler("card_posted", handler)
