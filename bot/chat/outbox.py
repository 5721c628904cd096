"""The durable outbox: every outbound chat (Slack Web API) call is a row before it is a request.

``enqueue`` inserts a message in the caller's transaction, so a message exists exactly when
the state change that caused it committed, and an unreachable Slack never blocks the caller.
The ``OutboxWorker`` (bot/chat/worker.py) sends the rows: in id order within a lane, one at a
time per lane, paced per channel and per method tier, retried with backoff, dead-lettered
after too many failures (logged and counted, never silently dropped).

Hooks connect the chat layer without the worker knowing it: *result handlers* run in a
transaction with the API answer after a call (e.g. store the new channel id), *payload
resolvers* fill placeholders such as ``"$incident_channel"`` from current rows right before
sending. A resolver raises ``RetryLater`` when the data is not there yet.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.chat import methods
from bot.db import JSONType, UTCDateTime, after_commit, utcnow
from bot.errors import ConflictError, InputError
from bot.redact import is_secret_key


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    #: The last attempt failed; retried at ``next_attempt_at``.
    FAILED = "failed"
    #: Gave up (too many failures, or rejected by Slack with nobody handling it).
    DEAD = "dead"


#: Statuses the worker still has to deliver.
OPEN_STATUSES = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value)


class OutboxMessage(SQLModel, table=True):
    """One outbound Web API call."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_open", "status", "lane", "id"),
        Index("ix_outbox_message_coalesce", "coalesce_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    #: Ordering lane: messages of one lane are sent in id order, one at a time.
    lane: str = Field(max_length=200)
    #: Slack Web API method, e.g. ``chat.postMessage``.
    method: str = Field(max_length=60)
    #: The method's arguments (may hold ``$placeholders`` for the payload resolvers).
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    #: Enqueueing a key that exists is a no-op.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    #: A not-yet-sent message with the same key is replaced instead of adding another call.
    coalesce_key: str | None = Field(default=None, max_length=200)
    #: Name of the result handler called with the API answer.
    on_result: str | None = Field(default=None, max_length=100)
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=10)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: The worker that claimed the message, until when (a crashed worker's claim expires).
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class OutboxEnqueued:
    """After-commit marker that wakes the worker up (see ``bot.db.after_commit``)."""


#: The single marker instance queued by ``enqueue``.
ENQUEUED = OutboxEnqueued()


class RetryLater(ConflictError):  # noqa: N818  (a signal to wait, named by the chat contract)
    """Raised by a payload resolver: the message cannot be sent yet (e.g. no channel so far).

    The message stays pending and is tried again after ``delay_s``; its lane waits with it.
    """

    code = "retry_later"

    def __init__(self, reason: str, *, delay_s: float = 2.0) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


ResultHandler = Callable[[AsyncSession, OutboxMessage, dict[str, Any]], Awaitable[None]]
PayloadResolver = Callable[[AsyncSession, OutboxMessage], Awaitable[dict[str, Any]]]


class OutboxHooks:
    """Where the chat layer plugs in: named result handlers and payload resolvers."""

    def __init__(self) -> None:
        self.result_handlers: dict[str, ResultHandler] = {}
        self.payload_resolvers: list[PayloadResolver] = []

    def register_result_handler(self, name: str, handler: ResultHandler) -> None:
        """``handler(session, message, response)`` runs in the transaction that marks the
        message sent (after a successful call) or with Slack's ``ok: false`` answer for a
        non-retryable error; it may enqueue more messages."""
        if name in self.result_handlers:
            raise ConflictError(f"outbox result handler {name!r} is already registered")
        self.result_handlers[name] = handler

    def register_payload_resolver(self, resolver: PayloadResolver) -> None:
        """``resolver(session, message)`` returns the payload to send; resolvers run in
        registration order, each seeing the previous one's output as ``message.payload``."""
        self.payload_resolvers.append(resolver)


def incident_lane(incident_id: int) -> str:
    """The lane of everything said about one incident (its room, card and messages)."""
    return f"incident:{incident_id}"


def _check(method: str, payload: dict[str, Any]) -> None:
    if not methods.is_known(method):
        known = ", ".join(sorted(methods.METHOD_TIERS))
        raise InputError(f"unknown chat method {method!r}", hint=f"known methods: {known}", field="method")
    secret = [key for key in payload if is_secret_key(key)]
    if secret:
        raise InputError(
            f"outbox payload for {method} holds a secret-looking argument: {', '.join(secret)}",
            hint="credentials belong to the sender, never in outbox rows",
            field="payload",
        )
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise InputError(f"outbox payload for {method} is not JSON: {exc}", field="payload") from None


async def enqueue(
    session: AsyncSession,
    *,
    method: str,
    payload: dict[str, Any],
    lane: str,
    incident_id: int | None = None,
    dedupe_key: str | None = None,
    coalesce_key: str | None = None,
    on_result: str | None = None,
) -> OutboxMessage | None:
    """Add a call to the outbox in the caller's transaction.

    Returns the message, or None when ``dedupe_key`` was enqueued before. With
    ``coalesce_key``, a message with that key that no worker holds yet gets the new method,
    payload and handler in place (same position in its lane) instead of a new row.
    """
    _check(method, payload)
    if dedupe_key is not None:
        known = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
        if (await session.exec(known)).first() is not None:
            return None
    now = utcnow()
    if coalesce_key is not None:
        waiting = await _coalescible(session, coalesce_key, lane, now)
        if waiting is not None:
            waiting.method, waiting.payload, waiting.on_result = method, payload, on_result
            session.add(waiting)
            await session.flush()
            after_commit(session, ENQUEUED)
            return waiting
    message = OutboxMessage(
        created_at=now,
        lane=lane,
        method=method,
        payload=payload,
        incident_id=incident_id,
        dedupe_key=dedupe_key,
        coalesce_key=coalesce_key,
        on_result=on_result,
        next_attempt_at=now,
    )
    if dedupe_key is None:
        session.add(message)
        await session.flush()
    else:
        # A concurrent transaction may insert the same key: the loser gets None, not an error.
        try:
            async with session.begin_nested():
                session.add(message)
                await session.flush()
        except IntegrityError:
            return None
    after_commit(session, ENQUEUED)
    return message


async def _coalescible(session: AsyncSession, key: str, lane: str, now: datetime) -> OutboxMessage | None:
    """The open message with ``key`` in ``lane`` that no live worker lease covers (locked)."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.coalesce_key == key,
            OutboxMessage.lane == lane,
            col(OutboxMessage.status).in_(OPEN_STATUSES),
        )
        .order_by(col(OutboxMessage.id).desc())
        .with_for_update()
    )
    waiting = (await session.exec(query)).first()
    if waiting is None:
        return None
    await session.refresh(waiting)
    if waiting.lease_until is not None and waiting.lease_until > now:
        return None  # in flight: its payload is already on the wire
    return waiting
