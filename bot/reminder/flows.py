"""Reminder flows: read incident state, fire what is due, record paging results.

Firing is one transaction per incident: the incident row is locked and its state re-read,
then each due reminder inserts its unique ``reminder`` row (a concurrent or repeated firing
loses on the key and does nothing), enqueues its chat message in the outbox and records one
timeline event (``reminder_sent``, ``commander_nudge``, ``escalated``). All of it commits
together, or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM
from bot.chat.outbox import enqueue, incident_lane
from bot.config import Settings
from bot.db import Database
from bot.incident import service, timeline
from bot.incident.domain import OPEN_STATUSES, Role, Severity, Status
from bot.incident.models import Incident, RoleAssignment, TimelineEvent
from bot.reminder import messages
from bot.reminder.models import PageStatus, Reminder, ReminderKind
from bot.reminder.policy import UPDATE_KINDS, IncidentState, due_now

log = logging.getLogger(__name__)

#: Placeholder the chat layer's payload resolver replaces with the incident's channel.
INCIDENT_CHANNEL = "$incident_channel"
TIMELINE_KINDS = {
    ReminderKind.STATUS_UPDATE: "reminder_sent",
    ReminderKind.COMMANDER_NUDGE: "commander_nudge",
    ReminderKind.ESCALATION: "escalated",
}
#: Paging webhook: attempts before giving up, and the backoff between them.
MAX_PAGE_ATTEMPTS = 10
PAGE_BACKOFF_S = 30.0
PAGE_BACKOFF_MAX_S = 600.0


@dataclass(frozen=True)
class Fired:
    kind: ReminderKind
    key: str
    incident: str
    reminder_id: int
    paging: bool


async def incident_states(
    session: AsyncSession, incident_ids: list[int] | None = None
) -> list[IncidentState]:
    """The reminder-relevant state of open incidents (or of ``incident_ids``)."""
    query = select(Incident).where(col(Incident.status).in_([s.value for s in OPEN_STATUSES]))
    if incident_ids is not None:
        query = query.where(col(Incident.id).in_(incident_ids))
    incidents = list((await session.exec(query.order_by(col(Incident.id)))).all())
    ids = [i.id for i in incidents]
    if not ids:
        return []
    commanders = {
        r.incident_id: r
        for r in (
            await session.exec(
                select(RoleAssignment).where(
                    col(RoleAssignment.incident_id).in_(ids),
                    RoleAssignment.role == Role.COMMANDER.value,
                    col(RoleAssignment.relieved_at).is_(None),
                )
            )
        ).all()
    }
    updates = dict(
        (
            await session.exec(
                select(TimelineEvent.incident_id, func.max(TimelineEvent.at))
                .where(
                    col(TimelineEvent.incident_id).in_(ids),
                    col(TimelineEvent.kind).in_(UPDATE_KINDS),
                    TimelineEvent.interface != "system",
                )
                .group_by(col(TimelineEvent.incident_id))
            )
        ).all()
    )
    fired: dict[tuple[int, str], tuple[int, datetime]] = {
        (incident_id, kind): (count, last)
        for incident_id, kind, count, last in (
            await session.exec(
                select(
                    Reminder.incident_id,
                    Reminder.kind,
                    func.count(col(Reminder.id)),
                    func.max(Reminder.sent_at),
                )
                .where(col(Reminder.incident_id).in_(ids))
                .group_by(col(Reminder.incident_id), col(Reminder.kind))
            )
        ).all()
    }
    states = []
    for incident in incidents:
        assert incident.id is not None
        commander = commanders.get(incident.id)
        reminded = fired.get((incident.id, ReminderKind.STATUS_UPDATE.value))
        states.append(
            IncidentState(
                incident_id=incident.id,
                ref=incident.ref,
                title=incident.title,
                severity=Severity(incident.severity),
                status=Status(incident.status),
                declared_at=incident.declared_at,
                acknowledged_at=incident.acknowledged_at,
                commander=commander.assignee if commander else None,
                commander_since=commander.assigned_at if commander else None,
                last_update_at=_aware(updates.get(incident.id)),
                status_reminders=reminded[0] if reminded else 0,
                last_status_reminder_at=_aware(reminded[1]) if reminded else None,
                nudged=(incident.id, ReminderKind.COMMANDER_NUDGE.value) in fired,
                escalated=(incident.id, ReminderKind.ESCALATION.value) in fired,
            )
        )
    return states


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates (max) bypass the column type on SQLite: make naive UTC values aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def load_states(db: Database) -> list[IncidentState]:
    async with db.session() as session:
        return await incident_states(session)


async def fire_due(
    db: Database, incident_id: int, now: datetime, settings: Settings, oncall: str | None
) -> list[Fired]:
    """Fire every reminder of the incident due at ``now``; ``oncall`` is the group's mention."""
    slack = settings.slack
    fired: list[Fired] = []
    async with db.transaction() as session:
        incident = await service.get_incident(session, incident_id, for_update=True)
        states = await incident_states(session, [incident_id])
        if not states:
            return []
        state = states[0]
        for due in due_now(state, slack, now):
            paging = due.kind == ReminderKind.ESCALATION and slack.paging_webhook_url is not None
            row = Reminder(
                incident_id=incident_id, kind=due.kind.value, key=due.key, due_at=due.due_at, sent_at=now
            )
            if paging:
                row.page_status = PageStatus.PENDING.value
                row.page_body = messages.page_body(state, due, slack.oncall_group, settings.public_url)
                row.page_next_at = now
            try:
                async with session.begin_nested():
                    session.add(row)
                    await session.flush()
            except IntegrityError:
                continue  # fired already (another process, or before a restart)
            message = await enqueue(
                session,
                method="chat.postMessage",
                payload={
                    "channel": incident.chat_channel_id or INCIDENT_CHANNEL,
                    "text": messages.chat_text(state, due, oncall),
                },
                lane=incident_lane(incident_id),
                incident_id=incident_id,
                dedupe_key=f"reminder:{due.key}",
            )
            if due.kind == ReminderKind.ESCALATION and slack.broadcast_channel:
                await enqueue(
                    session,
                    method="chat.postMessage",
                    payload={
                        "channel": slack.broadcast_channel,
                        "text": messages.chat_text(state, due, oncall),
                    },
                    lane=slack.broadcast_channel,
                    incident_id=incident_id,
                    dedupe_key=f"reminder:{due.key}:broadcast",
                )
            row.outbox_message_id = message.id if message else None
            session.add(row)
            await timeline.record(
                session,
                incident,
                kind=TIMELINE_KINDS[due.kind],
                text=messages.timeline_text(state, due, oncall, paging),
                actor=SYSTEM,
                data={"reminder": due.key, "due_at": due.due_at.isoformat(), "after_min": due.after_min},
            )
            assert row.id is not None
            fired.append(Fired(due.kind, due.key, incident.ref, row.id, paging))
    return fired


async def pages_due(db: Database, now: datetime) -> list[Reminder]:
    """Escalations whose paging webhook call is (again) due."""
    async with db.session() as session:
        query = select(Reminder).where(
            col(Reminder.page_status).in_([PageStatus.PENDING.value, PageStatus.FAILED.value]),
            col(Reminder.page_next_at) <= now,
        )
        return list((await session.exec(query.order_by(col(Reminder.id)))).all())


async def next_page_at(db: Database) -> datetime | None:
    async with db.session() as session:
        query = select(func.min(Reminder.page_next_at)).where(
            col(Reminder.page_status).in_([PageStatus.PENDING.value, PageStatus.FAILED.value])
        )
        return _aware((await session.exec(query)).one())


async def record_page(db: Database, reminder_id: int, now: datetime, error: str | None) -> PageStatus:
    """Store the outcome of one paging attempt; after too many failures, give up loudly."""
    async with db.transaction() as session:
        row = (await session.exec(select(Reminder).where(Reminder.id == reminder_id).with_for_update())).one()
        if error is None:
            row.page_status, row.paged_at, row.page_error, row.page_next_at = (
                PageStatus.SENT.value,
                now,
                None,
                None,
            )
            row.page_attempts += 1
            session.add(row)
            return PageStatus.SENT
        row.page_attempts += 1
        row.page_error = error
        if row.page_attempts >= MAX_PAGE_ATTEMPTS:
            row.page_status, row.page_next_at = PageStatus.GAVE_UP.value, None
            session.add(row)
            incident = await service.get_incident(session, row.incident_id, for_update=True)
            log.error(
                "paging webhook for %s gave up after %d attempts: %s", incident.ref, row.page_attempts, error
            )
            await timeline.record(
                session,
                incident,
                kind="paging_failed",
                text=f"Paging the on-call group failed {row.page_attempts} times; page them by hand",
                actor=SYSTEM,
                data={"reminder": row.key, "error": error},
            )
            return PageStatus.GAVE_UP
        delay = min(PAGE_BACKOFF_MAX_S, PAGE_BACKOFF_S * 2 ** (row.page_attempts - 1))
        row.page_status, row.page_next_at = PageStatus.FAILED.value, now + timedelta(seconds=delay)
        session.add(row)
        return PageStatus.FAILED
