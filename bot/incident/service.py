"""The incident rules: declare, change status/severity/fields, roles, notes.

Functions take the session first and work inside the caller's transaction; doors call them
through ``bot.incident.flows``. Each state change writes exactly one timeline event (and one
audit entry) through ``timeline.record``; a call that changes nothing writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import Actor
from bot.db import utcnow
from bot.errors import IllegalTransitionError, InputError, NotFoundError
from bot.incident import timeline
from bot.incident.domain import (
    MILESTONES,
    Role,
    Severity,
    Status,
    allowed_transitions,
    is_reopen,
    parse_ref,
)
from bot.incident.models import Incident, RoleAssignment, TimelineEvent
from bot.incident.schemas import IncidentCreate, IncidentQuery, RoleChange


async def declare(
    session: AsyncSession,
    data: IncidentCreate,
    actor: Actor,
    *,
    origin: str = "manual",
    detected_at: datetime | None = None,
) -> Incident:
    now = utcnow()
    incident = Incident(
        title=data.title,
        summary=data.summary,
        severity=data.severity.value,
        status=Status.TRIGGERED.value,
        models=data.models,
        services=data.services,
        labels=data.labels,
        responders=data.responders,
        notify_channel=data.notify_channel,
        suggested_runbooks=data.suggested_runbooks,
        origin=origin,
        declared_by=actor.label,
        declared_at=now,
        detected_at=detected_at or now,
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    await session.flush()
    await timeline.record(
        session,
        incident,
        kind="declared",
        text=f"{incident.ref} declared: {incident.title} ({incident.severity})",
        actor=actor,
        data={
            "severity": incident.severity,
            "origin": origin,
            "models": data.models,
            "services": data.services,
            "labels": data.labels,
        },
    )
    return incident


async def get_incident(session: AsyncSession, ref: str | int, *, for_update: bool = False) -> Incident:
    """The incident ``INC-n``; with ``for_update`` its row stays locked until commit."""
    try:
        incident_id = parse_ref(ref)
    except ValueError as exc:
        raise NotFoundError(str(exc), incident=str(ref)) from None
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    incident = (await session.exec(query)).first()
    if incident is None:
        raise NotFoundError(f"incident INC-{incident_id} does not exist", incident=f"INC-{incident_id}")
    if for_update:
        await session.refresh(incident)
    return incident


async def list_incidents(session: AsyncSession, query: IncidentQuery) -> tuple[list[Incident], int]:
    """Incidents matching the filters, newest first, and the total count before paging."""
    stmt = select(Incident)
    if query.status:
        stmt = stmt.where(col(Incident.status).in_([s.value for s in query.status]))
    if query.open_only:
        stmt = stmt.where(
            col(Incident.status).in_(
                [Status.TRIGGERED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MITIGATED]
            )
        )
    if query.severity:
        stmt = stmt.where(col(Incident.severity).in_([s.value for s in query.severity]))
    for key, value in query.labels.items():
        stmt = stmt.where(col(Incident.labels)[key].as_string() == value)
    if query.since is not None:
        stmt = stmt.where(col(Incident.declared_at) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(Incident.declared_at) < query.until)
    total = (await session.exec(select(func.count()).select_from(stmt.subquery()))).one()
    page = stmt.order_by(col(Incident.id).desc()).offset(query.offset).limit(query.limit)
    return list((await session.exec(page)).all()), int(total)


async def change_status(
    session: AsyncSession,
    incident: Incident,
    new: Status,
    actor: Actor,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEvent | None:
    """Move ``incident`` to ``new``; ``data`` adds to the event's data (e.g. ``mitigated_by``:
    alerts or runbook, for a move its caller made automatically)."""
    current = Status(incident.status)
    if new == current:
        return None
    if new not in allowed_transitions(current):
        allowed = ", ".join(s.value for s in allowed_transitions(current)) or "none (closed is final)"
        raise IllegalTransitionError(
            f"{incident.ref} cannot go from {current.value} to {new.value}",
            hint=f"allowed from {current.value}: {allowed}",
            incident=incident.ref,
            current=current.value,
            allowed=[s.value for s in allowed_transitions(current)],
        )
    now = utcnow()
    reopen = is_reopen(current, new)
    if incident.acknowledged_at is None and current == Status.TRIGGERED:
        incident.acknowledged_at = now
    if new in (Status.MITIGATED, Status.RESOLVED) and incident.mitigated_at is None:
        incident.mitigated_at = now
    if new == Status.RESOLVED:
        incident.resolved_at = now
    elif new == Status.CLOSED:
        incident.closed_at = now
    elif reopen:
        incident.resolved_at = None
    milestone = MILESTONES.get(new)
    incident.status = new.value
    text = (
        f"{incident.ref} reopened (was resolved)"
        if reopen
        else f"Status changed from {current.value} to {new.value}"
    )
    if reason:
        text += f": {reason}"
    return await timeline.record(
        session,
        incident,
        kind="reopened" if reopen else "status_changed",
        text=text,
        actor=actor,
        data={
            **(data or {}),
            "from": current.value,
            "to": new.value,
            "reason": reason,
            "milestone": milestone,
        },
    )


async def acknowledge(session: AsyncSession, incident: Incident, actor: Actor) -> TimelineEvent | None:
    """First response: stamps acknowledged_at and moves a triggered incident to investigating."""
    if incident.acknowledged_at is not None:
        return None
    if Status(incident.status) == Status.TRIGGERED:
        return await change_status(session, incident, Status.INVESTIGATING, actor, reason="acknowledged")
    incident.acknowledged_at = utcnow()
    return await timeline.record(
        session, incident, kind="acknowledged", text=f"Acknowledged by {actor.label}", actor=actor
    )


async def change_severity(
    session: AsyncSession,
    incident: Incident,
    new: Severity,
    actor: Actor,
    *,
    reason: str | None = None,
) -> TimelineEvent | None:
    current = Severity(incident.severity)
    if new == current:
        return None
    incident.severity = new.value
    text = f"Severity changed from {current.value} to {new.value}"
    return await timeline.record(
        session,
        incident,
        kind="severity_changed",
        text=text + (f": {reason}" if reason else ""),
        actor=actor,
        data={"from": current.value, "to": new.value, "reason": reason},
    )


async def edit(
    session: AsyncSession,
    incident: Incident,
    actor: Actor,
    *,
    title: str | None = None,
    summary: str | None = None,
) -> list[TimelineEvent]:
    events = []
    if title is not None and title != incident.title:
        old = incident.title
        incident.title = title
        events.append(
            await timeline.record(
                session,
                incident,
                kind="title_changed",
                text=f"Title changed to {title!r}",
                actor=actor,
                data={"from": old, "to": title},
            )
        )
    if summary is not None and summary != incident.summary:
        incident.summary = summary
        events.append(
            await timeline.record(
                session,
                incident,
                kind="summary_changed",
                text="Summary updated",
                actor=actor,
                data={"summary": summary},
            )
        )
    return events


async def current_roles(session: AsyncSession, incident_id: int) -> dict[Role, RoleAssignment]:
    rows = (
        await session.exec(
            select(RoleAssignment).where(
                RoleAssignment.incident_id == incident_id, col(RoleAssignment.relieved_at).is_(None)
            )
        )
    ).all()
    return {Role(r.role): r for r in rows}


async def role_history(session: AsyncSession, incident_id: int) -> list[RoleAssignment]:
    return list(
        (
            await session.exec(
                select(RoleAssignment)
                .where(RoleAssignment.incident_id == incident_id)
                .order_by(col(RoleAssignment.id))
            )
        ).all()
    )


async def assign_role(
    session: AsyncSession, incident: Incident, role: Role, assignee: str, actor: Actor
) -> RoleChange:
    """Assign ``role``; if someone holds it, this is a hand-over (both named on the timeline)."""
    assignee = assignee.strip()
    if not assignee:
        raise InputError("assignee must not be empty", field="assignee")
    assert incident.id is not None
    holder = (await current_roles(session, incident.id)).get(role)
    if holder is not None and holder.assignee == assignee:
        return RoleChange(role=role, assignee=assignee, previous=assignee, changed=False)
    now = utcnow()
    if holder is not None:
        holder.relieved_at = now
        holder.relieved_by = actor.label
        session.add(holder)
        await session.flush()
    session.add(
        RoleAssignment(
            incident_id=incident.id,
            role=role.value,
            assignee=assignee,
            assigned_by=actor.label,
            assigned_at=now,
        )
    )
    if holder is None:
        text = f"{role.display}: {assignee}"
        kind = "role_assigned"
    else:
        text = f"{role.display} handed over from {holder.assignee} to {assignee}"
        kind = "role_handover"
    await timeline.record(
        session,
        incident,
        kind=kind,
        text=text,
        actor=actor,
        data={"role": role.value, "assignee": assignee, "previous": holder.assignee if holder else None},
    )
    return RoleChange(
        role=role, assignee=assignee, previous=holder.assignee if holder else None, changed=True
    )


async def add_note(
    session: AsyncSession,
    incident: Incident,
    text: str,
    actor: Actor,
    *,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    text = text.strip()
    if not text:
        raise InputError("a note needs text", field="text")
    return await timeline.record(session, incident, kind="note", text=text, actor=actor, data=data)


def offer_runbook(incident: Incident, runbook: str) -> bool:
    """Add ``runbook`` to the incident's suggested runbooks (the caller records why); False
    when it is there already."""
    if runbook in incident.suggested_runbooks:
        return False
    incident.suggested_runbooks = [*incident.suggested_runbooks, runbook]
    return True


async def set_chat_channel(
    session: AsyncSession, incident: Incident, channel_id: str, channel_name: str, actor: Actor
) -> TimelineEvent | None:
    if incident.chat_channel_id == channel_id:
        return None
    incident.chat_channel_id = channel_id
    incident.chat_channel_name = channel_name
    return await timeline.record(
        session,
        incident,
        kind="channel_created",
        text=f"Incident channel #{channel_name}",
        actor=actor,
        data={"channel_id": channel_id, "channel_name": channel_name},
    )


async def find_by_channel(session: AsyncSession, channel_id: str) -> Incident | None:
    return (await session.exec(select(Incident).where(Incident.chat_channel_id == channel_id))).first()
