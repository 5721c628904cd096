"""The intake spool (SQLite only): webhook bodies committed to a file of their own.

SQLite has one writer per database file. With the inbox in the main file, a webhook's commit
waited for whatever write transaction was in progress (alert processing, the chat room
projector: 50 to 100 ms at times), which was the webhooks' p99. Here accepted bodies are
committed to ``<name>.intake<suffix>`` beside the main file (``bot.db`` → ``bot.intake.db``),
whose only writers are this module's thread, and a mover copies them into the main database's
``alert_inbox``, where the processor takes them as before.

Nothing is lost or applied twice:

- the spool's commits sync to disk (``synchronous=FULL``) before the sender gets its 2xx;
- a move inserts the rows into ``alert_inbox`` *with their spool ids* and commits (also
  synced), and only then deletes them from the spool. A crash in between moves them again and
  the copies are skipped (same primary key);
- spool ids keep increasing past every id ``alert_inbox`` holds (the spool's sequence starts
  above it), so arrival order is kept and a recreated spool file reuses no id.

PostgreSQL has no single writer: there the inbox writer commits to ``alert_inbox`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, make_url

from bot.alert.models import AlertInbox
from bot.db import Database, UTCDateTime, bulk_insert, sync_url, threaded_sqlite_engine
from bot.errors import UnavailableError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Rows copied per move transaction (keeps each hold of the main write lock short).
MOVE_BATCH = 500
#: The mover also looks every so often (a wake-up lost to a crash, another process's rows).
POLL_INTERVAL_S = 1.0

_METADATA = MetaData()
SPOOL = Table(
    "alert_spool",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("source", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
    Column("assigned", JSON, nullable=False),
    Column("alert_count", Integer, nullable=False),
    sqlite_autoincrement=True,  # ids never reused, even after the rows are moved away
)
INBOX = AlertInbox.__table__  # type: ignore[attr-defined]


def spool_path(database_url: str) -> Path | None:
    """Where the spool of a SQLite database file lives; None for PostgreSQL or in-memory SQLite."""
    url = make_url(database_url)
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    main = Path(name)
    return main.with_name(f"{main.stem}.intake{main.suffix}")


def spool_pending(database_url: str) -> tuple[int, datetime | None]:
    """(rows waiting in the spool, the oldest one's arrival): also read by other processes (the
    CLI), so straight from the file; (0, None) when there is no spool file."""
    path = spool_path(database_url)
    if path is None or not path.exists():
        return 0, None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        count, oldest = connection.execute("SELECT count(*), min(received_at) FROM alert_spool").fetchone()
    except sqlite3.OperationalError:  # created, table not yet made
        return 0, None
    finally:
        connection.close()
    # Stored as naive UTC text (bot.db.UTCDateTime).
    return int(count), datetime.fromisoformat(oldest).replace(tzinfo=UTC) if oldest else None


async def pending_alerts(db: Database) -> tuple[int, datetime | None]:
    """(accepted webhook bodies not processed yet, the oldest one's arrival): the spool's rows
    and the inbox's pending ones. The spool is read first: a row moved in between is then in
    the inbox and counted there, never missed."""
    spooled, oldest_spooled = await asyncio.to_thread(spool_pending, db.url)
    async with db.session() as session:
        connection = await session.connection()
        count, oldest = (
            await connection.execute(
                select(func.count(), func.min(INBOX.c.received_at)).where(INBOX.c.processed_at.is_(None))
            )
        ).one()
    if oldest_spooled is not None and (oldest is None or oldest_spooled < oldest):
        oldest = oldest_spooled
    return int(count) + spooled, oldest


class IntakeSpool:
    """A runtime component: ``insert_many`` for the inbox writer, and the mover task."""

    def __init__(
        self,
        db: Database,
        path: Path,
        on_move: Callable[[], None] | None = None,
        *,
        linger_s: float = 0.0,
        busy_defer_s: float = 0.0,
    ) -> None:
        self.db = db
        self.path = path
        self.on_move = on_move
        #: After a wake-up, wait this long so that one move carries the rows arriving meanwhile.
        self.linger_s = linger_s
        #: While webhooks crowd in (``intake_busy``), wait up to this long before moving: the
        #: processor waits as long, and each move takes the main file's writer.
        self.busy_defer_s = busy_defer_s
        self.intake_busy: Callable[[], bool] = lambda: False
        self._engine: Engine | None = None
        # One thread does every spool write (made at start): inserts and deletes never wait
        # for each other's locks, and the event loop never blocks on the file.
        self._thread: ThreadPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._moving = asyncio.Lock()

    # ---------------------------------------------------------------- intake

    async def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Commit ``rows`` (inbox rows without ids) to the spool, synced to disk."""
        await self._in_thread(self._insert, rows)

    def wake(self) -> None:
        self._wake.set()

    # ---------------------------------------------------------------- mover

    async def start(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="alert-spool")
        try:  # now rather than at the first webhook; if it fails, each commit tries again
            await self._in_thread(self._connect)
        except Exception as exc:
            log.error("the alert intake spool %s cannot be opened: %s", self.path, exc)
        self._task = asyncio.create_task(self._run(), name="alert-spool-mover")

    async def stop(self) -> None:
        """Move what is left (the inbox writer stopped first), then stop."""
        if self._thread is None:
            return
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.move()
        except Exception as exc:  # the rows stay in the spool for the next start
            log.warning("moving the alert spool at shutdown failed: %s", exc)
        await self._in_thread(self._dispose)
        self._thread.shutdown(wait=False)
        self._thread = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL_S)
            if self._wake.is_set() and self.linger_s:
                await asyncio.sleep(self.linger_s)
            await self._defer_while_crowded()
            self._wake.clear()
            try:
                await self.move()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("moving webhook bodies from the spool failed; retrying")
                await asyncio.sleep(POLL_INTERVAL_S)

    async def _defer_while_crowded(self) -> None:
        deadline = time.monotonic() + self.busy_defer_s
        while time.monotonic() < deadline:
            if not self.intake_busy():
                return
            await asyncio.sleep(0.05)

    async def move(self) -> int:
        """Copy every spooled row into ``alert_inbox`` and remove it from the spool; returns
        how many rows were moved."""
        moved = 0
        async with self._moving:
            while True:
                rows = await self._in_thread(self._oldest, MOVE_BATCH)
                if not rows:
                    break
                inbox_rows = [{**row, "attempts": 0, "failed": False} for row in rows]
                await self.db.insert_many(INBOX, inbox_rows, skip_existing=True)
                await self._in_thread(self._delete_through, rows[-1]["id"])
                moved += len(rows)
                if self.on_move is not None:
                    self.on_move()
                if len(rows) < MOVE_BATCH:
                    break
        return moved

    # ---------------------------------------------------------------- the spool thread

    async def _in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._thread is None:
            raise UnavailableError("alert intake is not running", hint="the bot is starting or stopping")
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _connect(self) -> Engine:
        if self._engine is None:
            engine = threaded_sqlite_engine(sync_url(f"sqlite:///{self.path}"))
            try:
                with engine.begin() as connection:
                    _METADATA.create_all(connection)
                    self._raise_sequence(connection)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def _raise_sequence(self, connection: Connection) -> None:
        """Spool ids start above every id in ``alert_inbox`` (a new or replaced spool file)."""
        highest = self._highest_inbox_id()
        current = connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = 'alert_spool'")
        ).scalar_one_or_none()
        if current is None:
            connection.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES ('alert_spool', :seq)"),
                {"seq": highest},
            )
        elif current < highest:
            connection.execute(
                text("UPDATE sqlite_sequence SET seq = :seq WHERE name = 'alert_spool'"), {"seq": highest}
            )

    def _highest_inbox_id(self) -> int:
        main = make_url(self.db.url).database
        assert main is not None
        connection = sqlite3.connect(main, timeout=10)
        try:
            return int(connection.execute("SELECT coalesce(max(id), 0) FROM alert_inbox").fetchone()[0])
        finally:
            connection.close()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._connect().begin() as connection:
            bulk_insert(connection, SPOOL, rows)

    def _oldest(self, limit: int) -> list[dict[str, Any]]:
        with self._connect().connect() as connection:
            found = connection.execute(select(SPOOL).order_by(SPOOL.c.id).limit(limit))
            return [dict(row._mapping) for row in found]

    def _delete_through(self, last_id: int) -> None:
        with self._connect().begin() as connection:
            connection.execute(delete(SPOOL).where(SPOOL.c.id <= last_id))

    def _dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
