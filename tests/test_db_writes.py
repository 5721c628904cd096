"""The database's write paths: one SQLite writer at a time in a process with webhook commits
first, nested write transactions refused instead of deadlocking, and ``insert_many`` committing
in one hop to a worker thread on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.alert.models import AlertInbox
from bot.db import Database, WriteQueue, utcnow


def _inbox_row(source: str) -> dict[str, object]:
    return {
        "source": source,
        "kind": "alertmanager",
        "received_at": utcnow(),
        "body": "{}",
        "assigned": {},
        "alert_count": 1,
        "attempts": 0,
        "failed": False,
    }


async def test_urgent_writers_go_before_queued_background_writers() -> None:
    queue = WriteQueue()
    order: list[str] = []
    release = asyncio.Event()

    async def writer(name: str, *, urgent: bool = False) -> None:
        async with queue.hold(urgent=urgent):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(writer("first"))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(writer("background-1")),
        asyncio.create_task(writer("background-2")),
        asyncio.create_task(writer("webhook", urgent=True)),
    ]
    await asyncio.sleep(0.01)
    assert order == ["first"]  # one writer at a time
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "webhook", "background-1", "background-2"]


async def test_a_cancelled_waiter_does_not_keep_the_queue() -> None:
    queue = WriteQueue()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with queue.hold():
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    waiter = asyncio.create_task(_hold_once(queue))
    await asyncio.sleep(0.01)
    waiter.cancel()
    release.set()
    await task
    await asyncio.wait_for(_hold_once(queue), 1)  # free again: nobody left holding it


async def _hold_once(queue: WriteQueue) -> None:
    async with queue.hold():
        pass


async def test_a_nested_write_transaction_is_refused_on_sqlite(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL allows concurrent write transactions")
    async with db.transaction():
        with pytest.raises(RuntimeError, match="nested write transaction"):
            await _open_transaction(db)
    async with db.transaction():  # the outer one released the queue
        pass


async def _open_transaction(db: Database) -> None:
    async with db.transaction():
        pass


async def test_insert_many_commits_every_row_and_orders_with_other_writers(db: Database) -> None:
    rows = [_inbox_row(f"source-{n}") for n in range(50)]
    background = asyncio.create_task(_slow_background_write(db))
    await asyncio.sleep(0.01)
    await db.insert_many(AlertInbox.__table__, rows, urgent=True)  # type: ignore[attr-defined]
    await background
    async with db.session() as session:
        stored = list(await session.exec(select(AlertInbox).order_by(col(AlertInbox.id))))
    assert [r.source for r in stored] == ["background"] + [f"source-{n}" for n in range(50)]
    assert all(r.received_at.tzinfo is not None for r in stored)


async def _slow_background_write(db: Database) -> None:
    async with db.transaction() as session:
        session.add(AlertInbox(**_inbox_row("background")))  # type: ignore[arg-type]
        await session.flush()
        await asyncio.sleep(0.05)  # the webhook commit waits for this one (SQLite: one writer)


async def test_inbox_commits_sync_the_sqlite_wal(db: Database) -> None:
    """What a webhook sender was told is stored survives power loss, not only a crash of the
    bot: the inbox's connection commits with synchronous=FULL (2), the others keep NORMAL (1)."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL commits are durable by its own settings")
    await db.insert_many(AlertInbox.__table__, [_inbox_row("durable")])  # type: ignore[attr-defined]
    engine, _ = db._bulk_engine()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    async with db.session() as session:
        other = await session.connection()
        assert (await other.exec_driver_sql("PRAGMA synchronous")).scalar() == 1


async def test_insert_many_stores_values_as_the_orm_does(db: Database) -> None:
    """The fast path (COPY on PostgreSQL, plain tuples on SQLite) stores every type the way an
    ORM insert does: the same row reads back identically either way."""
    when = datetime(2026, 11, 20, 3, 12, 5, 123456, tzinfo=UTC)
    values = {
        "source": 'it\'s "quoted"\ttab\\',  # COPY's text format escapes these
        "kind": "alertmanager",
        "received_at": when,
        "body": '{"k": "ünïcode\\n"}\nsecond line',
        "assigned": {"dedup_key": "k-1", "note": "a\tb"},
        "alert_count": 3,
        "attempts": 0,
        "failed": False,
    }
    async with db.transaction() as session:
        session.add(AlertInbox(**values))  # type: ignore[arg-type]
    await db.insert_many(AlertInbox.__table__, [values, {**values, "extra_key": "ignored"}])  # type: ignore[attr-defined]
    async with db.session() as session:
        orm, fast, fast_extra = list(await session.exec(select(AlertInbox).order_by(col(AlertInbox.id))))
    for row in (fast, fast_extra):
        assert row.model_dump(exclude={"id"}) == orm.model_dump(exclude={"id"})
    assert fast.received_at == when and fast.assigned == values["assigned"] and fast.processed_at is None
