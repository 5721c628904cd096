"""The outbox worker: delivers outbox messages lane by lane, in order, paced, with retries.

Claiming: the head of a lane (its lowest open id) is claimed with a lease (an UPDATE that
succeeds only while no live lease covers the row), so across workers and replicas one lane
has at most one call in flight and messages go out in id order. A lane task then delivers
the lane's messages one after the other.

Delivery guarantee, at least once: a message is marked sent in a transaction *after* the
call returned. If the process dies (or the database is unreachable) between Slack accepting
the call and that commit, the lease expires (``slack.outbox.lease_s``) and the message is
sent again: that window is the only source of duplicates. Dedupe keys stop duplicate
*enqueues*; Slack has no idempotency key for chat.postMessage.

Outcomes of one attempt:
- ok → ``sent``; the result handler runs in the same transaction (if it raises, the message
  stays sent, the failure is logged and counted: resending would duplicate the message);
- 429 → the key (channel or method) is paused for ``Retry-After``; not counted as a failure;
- unreachable, 5xx, retryable ``ok: false`` → ``failed``, retried with exponential backoff,
  ``dead`` after ``max_attempts`` (logged at error level, counted in
  ``incident_bot_outbox_dead_total``); the first success after failures retries the others
  at once, so a backlog drains as soon as Slack is back;
- other ``ok: false`` (``name_taken``, ``channel_not_found``...) → handed to the result
  handler, which reacts (``sent`` with the error in ``result``); without a handler: ``dead``;
- a payload resolver raising ``RetryLater`` → stays pending (its lane waits), ``dead`` after
  ``resolve_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import col, select

from bot.chat import methods
from bot.chat.metrics import ChatMetrics
from bot.chat.outbox import (
    OPEN_STATUSES,
    OutboxEnqueued,
    OutboxHooks,
    OutboxMessage,
    OutboxStatus,
    RetryLater,
)
from bot.chat.ratelimit import RateLimiter
from bot.chat.senders import ChatRateLimitedError, ChatSender
from bot.chat.settings import OutboxSettings
from bot.db import Database, utcnow
from bot.errors import RejectedIntegrationError, RetryableIntegrationError

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"^\$[a-z_]+$")
#: How many lane heads one scan looks at.
_SCAN_LIMIT = 500


@dataclass(frozen=True)
class _Failure:
    """One attempt failed in a way worth retrying (``reason`` is the metric label)."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return self.detail


class OutboxWorker:
    """A runtime component (start/stop with the app)."""

    def __init__(
        self,
        db: Database,
        sender: ChatSender,
        hooks: OutboxHooks,
        settings: OutboxSettings,
        metrics: ChatMetrics,
        *,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.hooks = hooks
        self.settings = settings
        self.metrics = metrics
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.limiter = RateLimiter(settings)
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._had_failures = False

    # -- lifecycle ------------------------------------------------------------------------------

    def on_commit(self, items: list[Any]) -> None:
        """A commit hook (``Database.commit_hooks``): an enqueue committed, look now."""
        if any(isinstance(item, OutboxEnqueued) for item in items):
            self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        lanes = list(self._lanes.values())
        if lanes:
            # Let calls in flight finish so their rows are marked; leases cover the rest.
            _done, pending = await asyncio.wait(lanes, timeout=self.settings.call_timeout_s + 5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.sender.close()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait_s = await self.scan()
            except Exception:
                log.exception("outbox scan failed; retrying in %ss", self.settings.poll_interval_s)
                wait_s = self.settings.poll_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, wait_s))

    # -- claiming -------------------------------------------------------------------------------

    async def scan(self) -> float:
        """Start lane tasks for due lane heads; return seconds until something may be due."""
        now = utcnow()
        wait_s = self.settings.poll_interval_s
        async with self.db.session() as session:
            heads = (await session.exec(_heads_query().limit(_SCAN_LIMIT))).all()
            open_count = (
                await session.exec(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(col(OutboxMessage.status).in_(OPEN_STATUSES))
                )
            ).one()
        self.metrics.open_messages.set(open_count)
        for head in heads:
            if head.lane in self._lanes:
                continue
            ready_at = max(head.next_attempt_at, head.lease_until or head.next_attempt_at)
            if ready_at > now:
                wait_s = min(wait_s, (ready_at - now).total_seconds())
                continue
            if len(self._lanes) >= self.settings.max_parallel_lanes:
                break
            assert head.id is not None
            if await self._claim(head.id, now):
                task = asyncio.create_task(
                    self._run_lane(head.lane, head.id), name=f"outbox-lane-{head.lane}"
                )
                self._lanes[head.lane] = task
        return wait_s

    async def _claim(self, message_id: int, now: datetime) -> bool:
        async with self.db.transaction() as session:
            result = await session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message_id,
                    col(OutboxMessage.status).in_(OPEN_STATUSES),
                    or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) <= now),
                )
                .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.settings.lease_s))
            )
            return bool(result.rowcount == 1)

    async def _next_in_lane(self, lane: str) -> int | None:
        """Claim the lane's next message if it is due now."""
        now = utcnow()
        async with self.db.session() as session:
            head = (await session.exec(_heads_query().where(OutboxMessage.lane == lane))).first()
        if head is None or head.id is None or head.next_attempt_at > now:
            return None
        return head.id if await self._claim(head.id, now) else None

    async def _run_lane(self, lane: str, message_id: int) -> None:
        try:
            next_id: int | None = message_id
            while next_id is not None:
                await self._deliver(next_id)
                # A claimed message is always delivered; on stop, claim no more.
                next_id = None if self._stopping else await self._next_in_lane(lane)
        except Exception:
            log.exception("outbox lane %s stopped on an unexpected error; it resumes after the lease", lane)
        finally:
            self._lanes.pop(lane, None)
            self._wake.set()

    # -- one message ----------------------------------------------------------------------------

    async def _deliver(self, message_id: int) -> None:
        waiting: RetryLater | None = None
        broken: Exception | None = None
        payload: dict[str, Any] = {}
        async with self.db.session() as session:
            row = await session.get(OutboxMessage, message_id)
            if row is None or row.lease_owner != self.owner or row.status not in OPEN_STATUSES:
                return
            message = OutboxMessage.model_validate(row.model_dump())
            try:
                payload = await self._resolve(session, message)
            except RetryLater as exc:
                waiting = exc
            except Exception as exc:
                broken = exc
        if waiting is not None:
            await self._wait_for_data(message, waiting)
            return
        if broken is not None:
            await self._record_failure(
                message, _Failure("resolver_error", f"payload resolver failed: {broken!r}")
            )
            return
        key = self.limiter.key(message.method, payload)
        paused = self.limiter.paused_for(key)
        if paused > 0:
            await self._release(
                message, utcnow() + timedelta(seconds=paused), "waiting: Slack asked to slow down"
            )
            return
        delay = self.limiter.reserve(key)
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            answer = await self.sender.call(message.method, payload)
        except ChatRateLimitedError as exc:
            self.metrics.rate_limited.labels(message.method).inc()
            self.limiter.pause(key, exc.retry_after_s)
            await self._release(message, utcnow() + timedelta(seconds=exc.retry_after_s), str(exc))
            return
        except RetryableIntegrationError as exc:
            await self._record_failure(message, _Failure("unavailable", str(exc)))
            return
        except RejectedIntegrationError as exc:
            await self._give_up(message, "rejected", str(exc))
            return
        except Exception as exc:
            await self._record_failure(message, _Failure("error", f"{type(exc).__name__}: {exc}"))
            return
        await self._settle(message, payload, answer)

    async def _resolve(self, session: Any, message: OutboxMessage) -> dict[str, Any]:
        for resolver in self.hooks.payload_resolvers:
            message.payload = await resolver(session, message)
        waiting_for = [
            f"{k}={v}" for k, v in message.payload.items() if isinstance(v, str) and _PLACEHOLDER.match(v)
        ]
        if waiting_for:
            raise RetryLater(f"unresolved placeholders: {', '.join(waiting_for)}")
        return dict(message.payload)

    async def _settle(self, message: OutboxMessage, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        error = None if answer.get("ok") else str(answer.get("error") or "unknown_error")
        if error is not None and error in methods.RETRYABLE_ERRORS:
            await self._record_failure(message, _Failure(error, f"Slack answered {message.method}: {error}"))
            return
        handler = self.hooks.result_handlers.get(message.on_result) if message.on_result else None
        if error is not None:
            self.metrics.rejected.labels(message.method, error).inc()
            if handler is None:
                await self._give_up(message, error, f"Slack refused {message.method}: {error}", answer)
                return
            log.warning(
                "outbox %s %s refused (%s); handler %s reacts",
                message.id,
                message.method,
                error,
                message.on_result,
            )
        if message.on_result and handler is None:
            log.error("outbox %s: no result handler named %r is registered", message.id, message.on_result)
            self.metrics.handler_failures.labels(message.on_result).inc()
        try:
            async with self.db.transaction() as session:
                row = await self._mark_sent(session, message, payload, answer, error)
                if handler is not None:
                    await handler(session, row, answer)
        except Exception as exc:
            log.exception("outbox %s: result handler %s failed after delivery", message.id, message.on_result)
            self.metrics.handler_failures.labels(message.on_result or "").inc()
            async with self.db.transaction() as session:
                await self._mark_sent(session, message, payload, answer, f"result handler failed: {exc!r}")
        if error is None:
            self.metrics.sent.labels(message.method).inc()
            if self._had_failures:
                await self._retry_failed_now()

    async def _mark_sent(
        self,
        session: Any,
        message: OutboxMessage,
        payload: dict[str, Any],
        answer: dict[str, Any],
        error: str | None,
    ) -> OutboxMessage:
        row = await session.get(OutboxMessage, message.id, with_for_update=True)
        assert row is not None
        row.status = OutboxStatus.SENT.value
        row.payload = payload
        row.result = answer
        row.sent_at = utcnow()
        row.last_error = error
        row.lease_owner = row.lease_until = None
        session.add(row)
        await session.flush()
        return row  # type: ignore[no-any-return]

    async def _retry_failed_now(self) -> None:
        """Slack answers again: retry the messages backing off from the outage right away."""
        self._had_failures = False
        async with self.db.transaction() as session:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == OutboxStatus.FAILED.value)
                .values(next_attempt_at=utcnow())
            )
        self._wake.set()

    async def _update_own(self, message: OutboxMessage, **values: Any) -> None:
        async with self.db.transaction() as session:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message.id, col(OutboxMessage.lease_owner) == self.owner)
                .values(lease_owner=None, lease_until=None, **values)
            )

    async def _release(self, message: OutboxMessage, at: datetime, note: str) -> None:
        await self._update_own(message, next_attempt_at=at, last_error=note)

    async def _wait_for_data(self, message: OutboxMessage, wait: RetryLater) -> None:
        if (utcnow() - message.created_at).total_seconds() > self.settings.resolve_timeout_s:
            await self._give_up(message, "unresolved", f"gave up waiting: {wait.message}")
            return
        await self._release(message, utcnow() + timedelta(seconds=wait.delay_s), f"waiting: {wait.message}")

    async def _record_failure(self, message: OutboxMessage, failure: _Failure) -> None:
        attempts = message.attempts + 1
        self._had_failures = True
        self.metrics.failures.labels(message.method, failure.reason).inc()
        if attempts >= self.settings.max_attempts:
            await self._give_up(
                message, failure.reason, f"{attempts} attempts failed; last: {failure}", attempts=attempts
            )
            return
        backoff = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (attempts - 1))
        backoff = backoff / 2 + random.uniform(0, backoff / 2)  # noqa: S311  (jitter, not crypto)
        log.warning(
            "outbox %s %s attempt %d failed (%s); retry in %.1fs",
            message.id,
            message.method,
            attempts,
            failure,
            backoff,
        )
        await self._update_own(
            message,
            status=OutboxStatus.FAILED.value,
            attempts=attempts,
            next_attempt_at=utcnow() + timedelta(seconds=backoff),
            last_error=str(failure),
        )

    async def _give_up(
        self,
        message: OutboxMessage,
        reason: str,
        detail: str,
        answer: dict[str, Any] | None = None,
        *,
        attempts: int | None = None,
    ) -> None:
        log.error(
            "outbox message %s (%s in lane %s, incident %s) is dead: %s",
            message.id,
            message.method,
            message.lane,
            message.incident_id,
            detail,
        )
        self.metrics.dead.labels(message.method, reason).inc()
        await self._update_own(
            message,
            status=OutboxStatus.DEAD.value,
            attempts=attempts if attempts is not None else message.attempts,
            last_error=detail,
            result=answer,
        )


def _heads_query() -> Any:
    """Each lane's lowest open message, oldest due first."""
    open_rows = col(OutboxMessage.status).in_(OPEN_STATUSES)
    heads = select(func.min(OutboxMessage.id)).where(open_rows).group_by(col(OutboxMessage.lane))
    return (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(heads))
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
    )
