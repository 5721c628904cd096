"""The durable inbox: accepted webhook bodies are committed before their sender gets a 2xx.

Group commit: requests hand their row to one writer task and wait; the writer inserts every
row waiting at that moment in one transaction, commits, and only then wakes each request with
its row id. Under load many requests share one commit (one fsync on SQLite), which is what
keeps intake fast while every acknowledged alert is durable. A failed commit fails every
request of its batch with ``UnavailableError`` (503 + Retry-After: the sender retries).

``WriteGate`` serializes this writer and the processor inside one process on SQLite, where
two writers would otherwise meet in SQLite's busy handler (sleeps of up to 100 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from bot.alert.models import AlertInbox
from bot.alert.settings import IntakeSettings
from bot.db import Database
from bot.errors import UnavailableError

log = logging.getLogger(__name__)


class WriteGate:
    """One writer at a time in this process on SQLite; no-op on PostgreSQL (row locks suffice)."""

    def __init__(self, enabled: bool) -> None:
        self._lock = asyncio.Lock() if enabled else None

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield


@dataclass(frozen=True)
class InboxEntry:
    source: str
    kind: str
    received_at: datetime
    body: str
    assigned: dict[str, str]
    alert_count: int

    def row(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "received_at": self.received_at,
            "body": self.body,
            "assigned": self.assigned,
            "alert_count": self.alert_count,
            "attempts": 0,
            "failed": False,
        }


_Waiter = tuple[InboxEntry, "asyncio.Future[int]"]
_INSERT = insert(AlertInbox.__table__).returning(AlertInbox.__table__.c.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]


def _consume(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()


class InboxWriter:
    """A runtime component: ``await submit(entry)`` returns the committed row id."""

    def __init__(
        self,
        db: Database,
        settings: IntakeSettings,
        gate: WriteGate,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.gate = gate
        self.on_commit = on_commit
        self._waiting: list[_Waiter] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alert-inbox-writer")

    async def stop(self) -> None:
        """Commit what is waiting, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, entry: InboxEntry) -> int:
        if self._task is None or self._stopping:
            raise UnavailableError("alert intake is not running", hint="the bot is starting or stopping")
        if len(self._waiting) >= self.settings.max_pending:
            raise UnavailableError(
                "alert intake is overloaded: too many requests are waiting for a commit",
                hint="retry later; check the database's write latency",
            )
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        # A request that timed out no longer reads its future: mark the outcome retrieved.
        future.add_done_callback(_consume)
        self._waiting.append((entry, future))
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.commit_timeout_s)
        except TimeoutError:
            raise UnavailableError(
                f"the alerts were not committed within {self.settings.commit_timeout_s:g}s",
                hint="the database is slow or locked; the sender should retry (redelivery is idempotent)",
            ) from None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self.settings.max_batch]
                del self._waiting[: self.settings.max_batch]
                await self._commit(batch)
            if self._stopping:
                return

    async def _commit(self, batch: list[_Waiter]) -> None:
        try:
            async with self.gate.hold(), self.db.transaction() as session:
                connection = await session.connection()
                result = await connection.execute(_INSERT, [entry.row() for entry, _ in batch])
                ids: list[int] = list(result.scalars())
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, UnavailableError)
                else UnavailableError(
                    "the alerts could not be committed to the database",
                    hint="check the database; the sender should retry",
                    error=type(exc).__name__,
                )
            )
            log.warning("inbox commit of %d request(s) failed: %s", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), row_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(row_id)
        if self.on_commit is not None:
            self.on_commit()
