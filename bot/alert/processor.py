"""The inbox processor: drains accepted webhook bodies in order, off the request path.

Each pass takes the oldest unprocessed rows, parses them again, applies their alerts (dedupe,
grouping, routing, incidents, timeline) and marks the rows processed **in the same
transaction**: a crash anywhere rolls all of it back and the rows are processed again, so a
row takes effect exactly once. On PostgreSQL a transaction-level advisory lock lets one
replica process at a time (order matters: a resolve must not overtake its firing).

A failing batch is retried row by row; a row that keeps failing is set aside (``failed``)
after ``processor.max_attempts`` so the rows behind it proceed. A row whose body no longer
parses (its source was removed or its mapping changed) is set aside at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlalchemy import text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert.incidents import settle
from bot.alert.metrics import AlertMetrics
from bot.alert.models import AlertInbox
from bot.alert.service import Received, apply_batches
from bot.alert.settings import AlertSettings
from bot.alert.sources import Source
from bot.alert.spool import pending_alerts
from bot.alert.sweep import sweep
from bot.alert.txn import AlertTxn
from bot.db import Database, utcnow
from bot.errors import IncidentBotError, InputError, UnavailableError
from integrations.sources.model import ParsedBatch
from integrations.sources.registry import decode_json

log = logging.getLogger(__name__)

#: pg_try_advisory_xact_lock key: "alert processor".
ADVISORY_KEY = 0x616C657274


class UnparseableError(Exception):
    pass


class _ClaimedElsewhere(Exception):  # noqa: N818  (control flow, never escapes _process_once)
    """Another processor claimed some of the rows first."""


@dataclass(frozen=True)
class PendingRow:
    id: int
    source: str
    kind: str
    received_at: datetime
    body: str
    assigned: dict[str, str]


class AlertProcessor:
    """A runtime component: ``wake()`` after inbox commits; polls for other replicas' rows."""

    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        sources: dict[str, Source],
        metrics: AlertMetrics,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sources = sources
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = 0.0
        #: Time source (tests move it forward to reach expiry, windows and min_duration_s).
        self.clock: Callable[[], datetime] = utcnow
        #: Whether webhooks are arriving right now (set by the wiring to the inbox writer's).
        self.intake_busy: Callable[[], bool] = lambda: False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-processor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        config = self.settings.processor
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), config.poll_interval_s)
            if self._wake.is_set() and config.linger_s:
                await asyncio.sleep(config.linger_s)
            self._wake.clear()
            try:
                await self.drain()
                if time.monotonic() - self._last_sweep >= config.sweep_interval_s:
                    await self.sweep()
                await self.update_lag()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert processing failed; retrying in %ss", config.poll_interval_s)
                await asyncio.sleep(config.poll_interval_s)

    async def drain(self) -> int:
        """Process pending rows until none are left; returns how many were processed.

        While webhooks crowd in (``intake_busy``), storms are acknowledged first: processing
        waits up to ``busy_defer_s`` for the crowd to thin, then takes small batches and
        pauses between them so that it takes at most ``busy_share`` of the event loop."""
        config = self.settings.processor
        total = 0
        crowded_since: float | None = None
        while True:
            busy = self.intake_busy()
            if not busy:
                crowded_since = None
            else:
                crowded_since = crowded_since or time.monotonic()
                if time.monotonic() - crowded_since < config.busy_defer_s:
                    await asyncio.sleep(0.05)
                    continue
            limit = config.busy_batch_size if busy else config.batch_size
            started = time.monotonic()
            done = await self.process_once(limit)
            total += done
            if done < limit:
                return total
            if busy:
                await asyncio.sleep(
                    (time.monotonic() - started) * (1 - config.busy_share) / config.busy_share
                )

    async def process_once(self, limit: int | None = None) -> int:
        limit = limit or self.settings.processor.batch_size
        try:
            return await self._process(limit=limit)
        except _ClaimedElsewhere:
            return 0
        except Exception as exc:
            log.warning("alert batch failed (%s: %s); retrying its rows one by one", type(exc).__name__, exc)
        done = 0
        for _ in range(limit):
            try:
                processed = await self._process(limit=1)
            except _ClaimedElsewhere:
                return done
            except UnavailableError:
                raise  # the database, not the row: retried after a pause, attempts not counted
            except Exception as exc:
                await self._record_failure(exc)
                return done  # the next try comes after poll_interval_s
            if processed == 0:
                break
            done += processed
        return done

    async def _process(self, *, limit: int) -> int:
        """Process the oldest pending rows in one transaction; 0 when none (or another
        processor took them first).

        Rows are read and parsed before the write transaction starts, so that on SQLite the
        write lock (which webhook commits wait for) is held only while alerts are applied.
        The transaction then claims them with ``processed_at IS NULL`` as the condition: if
        another processor claimed any in between, everything rolls back."""
        pending = await self._pending(limit)
        if not pending:
            return 0
        received: list[Received] = []
        unparseable: dict[int, str] = {}
        for n, row in enumerate(pending, 1):
            try:
                received.append(Received(self._parse(row), row.id, row.received_at))
            except UnparseableError as exc:
                unparseable[row.id] = str(exc)
            if n % 10 == 0:
                await asyncio.sleep(0)  # let webhook requests in between
        now = self.clock()
        ids = [row.id for row in pending]
        async with self.db.transaction() as session:
            if not await self._exclusive(session):
                return 0
            connection = await session.connection()
            claimed = await connection.execute(
                update(AlertInbox)
                .where(col(AlertInbox.id).in_(ids), col(AlertInbox.processed_at).is_(None))
                .values(processed_at=now)
            )
            if claimed.rowcount != len(ids):
                raise _ClaimedElsewhere
            for row_id, error in unparseable.items():
                await connection.execute(
                    update(AlertInbox).where(col(AlertInbox.id) == row_id).values(failed=True, error=error)
                )
                self._count_set_aside(row_id, error)
            tx = AlertTxn(session=session, settings=self.settings, now=now)
            await apply_batches(tx, received)
            await settle(tx)
        for source, n in tx.stored.items():
            self.metrics.stored.labels(source).inc(n)
        for source, n in tx.deduplicated.items():
            self.metrics.deduplicated.labels(source).inc(n)
        return len(pending)

    async def _pending(self, limit: int) -> list[PendingRow]:
        inbox = AlertInbox.__table__  # type: ignore[attr-defined]
        query = (
            sa_select(
                inbox.c.id, inbox.c.source, inbox.c.kind, inbox.c.received_at, inbox.c.body, inbox.c.assigned
            )
            .where(inbox.c.processed_at.is_(None))
            .order_by(inbox.c.id)
            .limit(limit)
        )
        async with self.db.session() as session:
            rows = (await (await session.connection()).execute(query)).all()
        return [PendingRow(*row) for row in rows]

    def _parse(self, row: PendingRow) -> ParsedBatch:
        source = self.sources.get(row.source)
        if source is None or source.kind != row.kind:
            raise UnparseableError(f"source {row.source!r} ({row.kind}) is no longer configured")
        try:
            return source.parse(
                decode_json(row.body.encode("utf-8")), now=row.received_at, assigned=row.assigned
            )
        except (InputError, ValueError) as exc:
            raise UnparseableError(f"the stored body no longer parses: {exc}") from None

    def _count_set_aside(self, row_id: int | None, error: str) -> None:
        self.metrics.inbox_failed.inc()
        log.error("alert inbox row %s set aside: %s", row_id, error)

    def _set_aside(self, row: AlertInbox, error: str) -> None:
        row.failed = True
        row.error = error
        row.processed_at = self.clock()
        self._count_set_aside(row.id, error)

    async def _record_failure(self, exc: Exception) -> None:
        """Count a failure on the oldest pending row; set it aside after max_attempts."""
        message = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, IncidentBotError):
            log.error("processing an alert inbox row failed", exc_info=exc)
        async with self.db.transaction() as session:
            row = (
                await session.exec(
                    select(AlertInbox)
                    .where(col(AlertInbox.processed_at).is_(None))
                    .order_by(col(AlertInbox.id))
                    .limit(1)
                )
            ).first()
            if row is None:
                return
            row.attempts += 1
            row.error = message[:2000]
            if row.attempts >= self.settings.processor.max_attempts:
                self._set_aside(row, message[:2000])
            session.add(row)

    async def _exclusive(self, session: AsyncSession) -> bool:
        if self.db.is_sqlite:
            return True  # BEGIN IMMEDIATE already makes this the only writer
        locked = await session.exec(
            text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=ADVISORY_KEY)
        )  # type: ignore[call-overload]
        return bool(locked.scalar())

    async def sweep(self) -> None:
        self._last_sweep = time.monotonic()
        async with self.db.transaction() as session:
            if not await self._exclusive(session):
                return
            await sweep(AlertTxn(session=session, settings=self.settings, now=self.clock()))

    async def update_lag(self) -> None:
        count, oldest = await pending_alerts(self.db)
        self.metrics.inbox_pending.set(count)
        self.metrics.inbox_lag.set(max(0.0, (self.clock() - oldest).total_seconds()) if oldest else 0.0)
