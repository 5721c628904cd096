"""Append events to an incident's timeline (and the audit log) in the caller's transaction.

Every state change of an incident goes through ``record``: exactly one timeline event and one
audit entry per change, and a wake-up for the chat layer after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.db import after_commit, utcnow
from bot.events import IncidentChanged
from bot.incident.models import Incident, TimelineEvent
from bot.redact import redact


@dataclass(frozen=True)
class Entry:
    """One change to record (see ``record_many``)."""

    incident: Incident
    kind: str
    text: str
    actor: Actor
    data: dict[str, Any] | None = None
    audit_action: str | None = None


async def record(
    session: AsyncSession,
    incident: Incident,
    *,
    kind: str,
    text: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    audit_action: str | None = None,
) -> TimelineEvent:
    [event] = await record_many(session, [Entry(incident, kind, text, actor, data, audit_action)])
    return event


async def record_many(session: AsyncSession, entries: list[Entry]) -> list[TimelineEvent]:
    """Several changes with one flush: the ORM writes the events, audit entries and incident
    revisions as a few multi-row statements instead of three statements per change."""
    now = utcnow()
    events = []
    for entry in entries:
        incident = entry.incident
        assert incident.id is not None
        clean = redact(entry.data or {})
        event = TimelineEvent(
            incident_id=incident.id,
            at=now,
            kind=entry.kind,
            actor=entry.actor.label,
            actor_id=entry.actor.id,
            interface=entry.actor.interface.value,
            text=entry.text,
            data=clean,
        )
        session.add(event)
        incident.revision += 1
        incident.updated_at = now
        session.add(incident)
        audit(
            session,
            entry.actor,
            entry.audit_action or f"incident.{entry.kind}",
            target_type="incident",
            target_id=incident.ref,
            incident_id=incident.id,
            details={"text": entry.text, **clean},
        )
        events.append(event)
    if not events:
        return events
    await session.flush()
    for event in events:
        assert event.id is not None
        after_commit(session, IncidentChanged(event.incident_id, event.id, event.kind))
    return events


async def list_events(
    session: AsyncSession,
    incident_id: int,
    *,
    after_id: int | None = None,
    kinds: list[str] | None = None,
    limit: int = 500,
) -> list[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    if after_id is not None:
        query = query.where(col(TimelineEvent.id) > after_id)
    if kinds:
        query = query.where(col(TimelineEvent.kind).in_(kinds))
    query = query.order_by(col(TimelineEvent.id)).limit(limit)
    return list((await session.exec(query)).all())
