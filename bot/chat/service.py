"""Reading the outbox (what the bot said or will say) and putting dead messages back in line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.authz.actions import Action
from bot.authz.policy import Authorizer, Target
from bot.chat.outbox import ENQUEUED, OutboxMessage, OutboxStatus
from bot.db import Database, after_commit, utcnow
from bot.errors import ConflictError, NotFoundError
from bot.incident.domain import format_ref
from bot.redact import redact


class ChatMessageOut(BaseModel):
    id: int
    created_at: datetime
    incident: str | None
    lane: str
    method: str
    channel: str | None
    #: The message text (or the channel name / topic / title the call sets).
    text: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    payload: dict[str, Any]
    result: dict[str, Any] | None


def _summary(payload: dict[str, Any]) -> str:
    for field in ("text", "name", "topic", "title", "email", "users"):
        value = payload.get(field)
        if value:
            return str(value)
    return ""


def to_out(message: OutboxMessage) -> ChatMessageOut:
    assert message.id is not None
    channel = message.payload.get("channel") or message.payload.get("channel_id")
    return ChatMessageOut(
        id=message.id,
        created_at=message.created_at,
        incident=format_ref(message.incident_id) if message.incident_id else None,
        lane=message.lane,
        method=message.method,
        channel=str(channel) if channel else None,
        text=_summary(message.payload),
        status=OutboxStatus(message.status),
        attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        last_error=message.last_error,
        sent_at=message.sent_at,
        payload=redact(message.payload),
        result=redact(message.result) if message.result is not None else None,
    )


async def list_messages(
    session: AsyncSession,
    *,
    incident_id: int | None = None,
    statuses: list[OutboxStatus] | None = None,
    lane: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[OutboxMessage], int]:
    """Messages in id order (the order they are sent in within a lane) and the total count."""
    query = select(OutboxMessage)
    if incident_id is not None:
        query = query.where(OutboxMessage.incident_id == incident_id)
    if statuses:
        query = query.where(col(OutboxMessage.status).in_([s.value for s in statuses]))
    if lane is not None:
        query = query.where(OutboxMessage.lane == lane)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    page = query.order_by(col(OutboxMessage.id)).offset(offset).limit(limit)
    return list((await session.exec(page)).all()), int(total)


async def requeue(session: AsyncSession, message_id: int, actor: Actor) -> OutboxMessage:
    """Send a dead (or retrying) message again now, with a fresh attempt budget. Audited."""
    message = (
        await session.exec(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update())
    ).first()
    if message is None:
        raise NotFoundError(f"chat message {message_id} does not exist")
    if message.status not in (OutboxStatus.DEAD.value, OutboxStatus.FAILED.value):
        raise ConflictError(
            f"chat message {message_id} is {message.status}",
            hint="only dead or retrying messages can be sent again",
        )
    previous = message.status
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = utcnow()
    session.add(message)
    audit(
        session,
        actor,
        "chat.message_requeued",
        target_type="chat_message",
        target_id=str(message_id),
        incident_id=message.incident_id,
        details={"method": message.method, "was": previous, "last_error": message.last_error},
    )
    await session.flush()
    return message


async def retry(db: Database, message_id: int, actor: Actor, *, authz: Authorizer) -> ChatMessageOut:
    """The door of ``requeue``: authorized, one transaction, the outbox worker woken."""
    async with authz.audited(db), db.transaction() as session:
        await authz.authorize(session, actor, Action.CHAT_RETRY, Target("chat_message", str(message_id)))
        message = await requeue(session, message_id, actor)
        after_commit(session, ENQUEUED)
        return to_out(message)
