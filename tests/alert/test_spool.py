"""The SQLite intake spool: webhook bodies committed to a file of their own, then moved into
``alert_inbox`` with their ids, in order, never twice and never lost."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.alert.models import AlertInbox
from bot.alert.spool import INBOX, IntakeSpool, spool_path, spool_pending
from bot.db import Database, utcnow


def _row(source: str) -> dict[str, Any]:
    return {
        "source": source,
        "kind": "alertmanager",
        "received_at": utcnow(),
        "body": "{}",
        "assigned": {"dedup_key": source},
        "alert_count": 1,
    }


@pytest.fixture
async def db(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Database]:
    shutil.copy(sqlite_template, tmp_path / "bot.db")
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    yield database
    await database.dispose()


async def _inbox(db: Database) -> list[AlertInbox]:
    async with db.session() as session:
        return list(await session.exec(select(AlertInbox).order_by(col(AlertInbox.id))))


async def _spool(db: Database) -> IntakeSpool:
    path = spool_path(db.url)
    assert path is not None
    spool = IntakeSpool(db, path)
    await spool.start()
    return spool


def test_the_spool_lives_beside_a_sqlite_file_only(tmp_path: Path) -> None:
    assert spool_path(f"sqlite:///{tmp_path}/bot.db") == tmp_path / "bot.intake.db"
    assert spool_path(f"sqlite:///{tmp_path}/state") == tmp_path / "state.intake"
    assert spool_path("sqlite://") is None
    assert spool_path("sqlite:///:memory:") is None
    assert spool_path("postgresql+psycopg://bot@db/bot") is None


async def test_rows_move_into_the_inbox_in_order_with_their_ids(db: Database) -> None:
    spool = await _spool(db)
    try:
        await spool.insert_many([_row("a"), _row("b")])
        await spool.insert_many([_row("c")])
        assert spool_pending(db.url)[0] == 3
        assert await _inbox(db) == []
        assert await spool.move() == 3
        assert spool_pending(db.url) == (0, None)
        rows = await _inbox(db)
        assert [(r.id, r.source, r.assigned, r.processed_at) for r in rows] == [
            (1, "a", {"dedup_key": "a"}, None),
            (2, "b", {"dedup_key": "b"}, None),
            (3, "c", {"dedup_key": "c"}, None),
        ]
    finally:
        await spool.stop()


async def test_a_crash_between_copy_and_delete_moves_nothing_twice(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await _spool(db)
    try:
        await spool.insert_many([_row("a"), _row("b")])

        def crash(last_id: int) -> None:
            raise RuntimeError("killed after the inbox commit")

        monkeypatch.setattr(spool, "_delete_through", crash)
        with pytest.raises(RuntimeError):
            await spool.move()
        monkeypatch.undo()
        assert spool_pending(db.url)[0] == 2  # still spooled, and already copied
        await spool.insert_many([_row("c")])
        assert await spool.move() == 3
        assert [r.source for r in await _inbox(db)] == ["a", "b", "c"]
    finally:
        await spool.stop()


async def test_spool_ids_start_above_the_inbox_even_for_a_new_spool_file(db: Database) -> None:
    """A spool file deleted or replaced (restored from an older backup) reuses no inbox id:
    a reused id would be skipped as already moved, and the alert lost."""
    await db.insert_many(INBOX, [{**_row("old"), "id": 41, "attempts": 0, "failed": False}])
    spool = await _spool(db)
    await spool.insert_many([_row("new")])
    await spool.stop()  # moves what is left
    assert [(r.id, r.source) for r in await _inbox(db)] == [(41, "old"), (42, "new")]

    path = spool_path(db.url)
    assert path is not None
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    spool = await _spool(db)
    await spool.insert_many([_row("after")])
    await spool.stop()
    assert [r.id for r in await _inbox(db)] == [41, 42, 43]


async def test_spool_commits_sync_to_disk(db: Database) -> None:
    """Acknowledged means durable through power loss: synchronous=FULL (2) on the spool."""
    spool = await _spool(db)
    try:
        engine = await spool._in_thread(spool._connect)

        def synchronous() -> int:
            with engine.connect() as connection:
                return int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())

        assert await spool._in_thread(synchronous) == 2
    finally:
        await spool.stop()


async def test_a_spool_that_cannot_be_opened_refuses_commits(tmp_path: Path, sqlite_template: Path) -> None:
    missing = tmp_path / "missing"
    db = Database(f"sqlite:///{missing / 'bot.db'}")
    spool = IntakeSpool(db, missing / "bot.intake.db")
    await spool.start()  # logs, does not stop the bot from starting
    try:
        with pytest.raises(Exception, match="unable to open database file"):
            await spool.insert_many([_row("a")])
    finally:
        await spool.stop()
        await db.dispose()


async def test_the_mover_waits_while_webhooks_crowd_in_then_moves(db: Database) -> None:
    """During a storm each move would take the main file's writer from processing: the mover
    waits (up to busy_defer_s) for the crowd to thin, then moves everything at once."""
    path = spool_path(db.url)
    assert path is not None
    crowded = {"now": True}
    spool = IntakeSpool(db, path, busy_defer_s=30)
    spool.intake_busy = lambda: crowded["now"]
    await spool.start()
    try:
        await spool.insert_many([_row("a"), _row("b")])
        spool.wake()
        await asyncio.sleep(0.3)
        assert spool_pending(db.url)[0] == 2 and await _inbox(db) == []
        crowded["now"] = False
        for _ in range(100):
            if await _inbox(db):
                break
            await asyncio.sleep(0.05)
        assert [r.source for r in await _inbox(db)] == ["a", "b"]
        assert spool_pending(db.url) == (0, None)
    finally:
        await spool.stop()
