"""The durable inbox: accepted webhook bodies are committed before their sender gets a 2xx.

Group commit: requests hand their row to one writer task and wait; the writer inserts every
row waiting at that moment in one transaction, commits, and only then wakes each request.
Under load many requests share one commit (one fsync), which is what keeps intake fast while
every acknowledged alert is durable. A failed commit fails every request of its batch with
``UnavailableError`` (503 + Retry-After: the sender retries).

Where rows are committed is the wiring's choice (``store``): on SQLite the intake spool, a
file of its own (``bot.alert.spool``); on PostgreSQL ``alert_inbox`` directly, as an urgent
``Database.insert_many``. Either way each commit runs in one hop to a worker thread.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.alert.settings import IntakeSettings
from bot.errors import UnavailableError

log = logging.getLogger(__name__)


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


#: An entry, the future its request awaits, and when it arrived (event loop time).
_Waiter = tuple[InboxEntry, "asyncio.Future[None]", float]
#: Commits inbox rows (durably) or raises.
Store = Callable[[list[dict[str, Any]]], Awaitable[None]]


#: Requests sharing one commit from which intake counts as crowded (see ``busy``).
CROWDED = 4


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class InboxWriter:
    """A runtime component: ``await submit(entry)`` returns once the entry is committed."""

    def __init__(
        self,
        store: Store,
        settings: IntakeSettings,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.on_commit = on_commit
        self._waiting: list[_Waiter] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._crowded_at = 0.0

    async def start(self) -> None:
        # Everything alive now (routes, schemas, table metadata...) lives as long as the
        # process: freezing it keeps full garbage collections short. Without this, gen-2
        # collections paused the event loop for 100+ ms under alert load (the webhooks' p99).
        gc.freeze()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alert-inbox-writer")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Commit what is waiting, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Requests still waiting when the writer ends (it should not, but for a bug) get a 503
        rather than an answer that never comes: nothing else times them out."""
        if not task.cancelled() and task.exception() is not None:
            log.error("the alert inbox writer stopped", exc_info=task.exception())
        waiting, self._waiting = self._waiting, []
        self._fail(waiting, UnavailableError("alert intake is not running", hint="see the bot's log"))

    def busy(self, within_s: float = 0.25) -> bool:
        """Whether webhooks crowded in within the last ``within_s`` seconds: a commit carried
        several requests (senders were waiting for it), as in a storm, not a steady trickle."""
        return time.monotonic() - self._crowded_at < within_s

    async def submit(self, entry: InboxEntry) -> None:
        if self._task is None or self._task.done() or self._stopping:
            raise UnavailableError("alert intake is not running", hint="the bot is starting or stopping")
        if len(self._waiting) >= self.settings.max_pending:
            raise UnavailableError(
                "alert intake is overloaded: too many requests are waiting for a commit",
                hint="retry later; check the database's write latency",
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        # A request that went away no longer reads its future: mark the outcome retrieved.
        future.add_done_callback(_consume)
        self._waiting.append((entry, future, loop.time()))
        self._wake.set()
        # The writer settles every future: committed, failed, or not committed in time (one
        # timer per commit rather than one per request: a storm has thousands waiting).
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self.settings.max_batch]
                del self._waiting[: self.settings.max_batch]
                if len(batch) >= CROWDED:
                    self._crowded_at = time.monotonic()
                await self._commit(batch)
            if self._stopping:
                return

    async def _commit(self, batch: list[_Waiter]) -> None:
        # Each request waits at most commit_timeout_s from its arrival (the oldest sets the
        # batch's deadline). On timeout the insert may still land later, in the store's
        # thread; the sender's retry of it then dedupes.
        timeout = self.settings.commit_timeout_s
        try:
            async with asyncio.timeout_at(batch[0][2] + timeout):
                await self.store([entry.row() for entry, _, _ in batch])
        except TimeoutError:
            self._fail(
                batch,
                UnavailableError(
                    f"the alerts were not committed within {timeout:g}s",
                    hint="the database is slow or locked; the sender should retry (redelivery is idempotent)",
                ),
            )
            return
        except Exception as exc:
            log.warning("inbox commit of %d request(s) failed: %s", len(batch), exc)
            self._fail(
                batch,
                exc
                if isinstance(exc, UnavailableError)
                else UnavailableError(
                    "the alerts could not be committed to the database",
                    hint="check the database; the sender should retry",
                    error=type(exc).__name__,
                ),
            )
            return
        for _, future, _ in batch:
            if not future.done():
                future.set_result(None)
        if self.on_commit is not None:
            self.on_commit()

    @staticmethod
    def _fail(batch: list[_Waiter], error: UnavailableError) -> None:
        for _, future, _ in batch:
            if not future.done():
                future.set_exception(error)
