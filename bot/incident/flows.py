"""Incident flows: one transaction per call, used by every door (REST, CLI, chat, automation).

Flows lock the incident row while they change it, so two people acting at once serialize
instead of overwriting each other, and return plain snapshots (``IncidentOut``) that are safe
to use after the transaction. Each change is authorized (``bot.authz``) on the locked row; a
refusal is audited and raised, whichever door asked.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import Actor
from bot.authz.actions import Action
from bot.authz.policy import Authorizer, Target
from bot.db import Database
from bot.errors import InputError
from bot.incident import service, timeline
from bot.incident.domain import Role, Severity, Status, allowed_transitions
from bot.incident.models import Incident
from bot.incident.schemas import (
    IncidentCreate,
    IncidentOut,
    IncidentQuery,
    IncidentUpdate,
    RoleChange,
    RoleHolder,
    TimelineEventOut,
)


async def snapshot(session: AsyncSession, incident: Incident) -> IncidentOut:
    assert incident.id is not None
    roles = await service.current_roles(session, incident.id)
    status = Status(incident.status)
    return IncidentOut(
        ref=incident.ref,
        title=incident.title,
        summary=incident.summary,
        severity=Severity(incident.severity),
        status=status,
        models=list(incident.models),
        services=list(incident.services),
        labels=dict(incident.labels),
        origin=incident.origin,
        declared_by=incident.declared_by,
        responders=list(incident.responders),
        notify_channel=incident.notify_channel,
        suggested_runbooks=list(incident.suggested_runbooks),
        roles={
            role.value: RoleHolder(
                role=role, assignee=a.assignee, assigned_at=a.assigned_at, assigned_by=a.assigned_by
            )
            for role, a in sorted(roles.items())
        },
        chat_channel_id=incident.chat_channel_id,
        chat_channel_name=incident.chat_channel_name,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        allowed_transitions=list(allowed_transitions(status)),
    )


async def declare_incident(
    db: Database, data: IncidentCreate, actor: Actor, *, authz: Authorizer
) -> IncidentOut:
    """Declare; the person who declares is one of its responders."""
    async with authz.audited(db), db.transaction() as session:
        await authz.authorize(session, actor, Action.DECLARE, Target("incident", "(new)"))
        if actor.is_person and actor.id not in data.responders:
            data = data.model_copy(update={"responders": [*data.responders, actor.id]})
        incident = await service.declare(session, data, actor)
        return await snapshot(session, incident)


async def get_incident(db: Database, ref: str) -> IncidentOut:
    async with db.session() as session:
        return await snapshot(session, await service.get_incident(session, ref))


async def list_incidents(db: Database, query: IncidentQuery) -> tuple[list[IncidentOut], int]:
    async with db.session() as session:
        incidents, total = await service.list_incidents(session, query)
        return [await snapshot(session, i) for i in incidents], total


def status_action(new: Status) -> Action:
    return {Status.RESOLVED: Action.RESOLVE, Status.CLOSED: Action.CLOSE}.get(new, Action.CHANGE_STATUS)


async def update_incident(
    db: Database, ref: str, update: IncidentUpdate, actor: Actor, *, authz: Authorizer
) -> IncidentOut:
    """Apply every field of ``update`` in one transaction: all changes land, or none."""
    async with authz.audited(db), db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        target = Target.of_incident(incident)
        if (update.title is not None and update.title != incident.title) or (
            update.summary is not None and update.summary != incident.summary
        ):
            await authz.authorize(session, actor, Action.EDIT, target)
        if update.severity is not None and update.severity.value != incident.severity:
            severity = Target.of_incident(incident, details={"to": update.severity.value})
            await authz.authorize(session, actor, Action.CHANGE_SEVERITY, severity)
        if update.status is not None and update.status.value != incident.status:
            status = Target.of_incident(incident, details={"to": update.status.value})
            await authz.authorize(session, actor, status_action(update.status), status)
        await service.edit(session, incident, actor, title=update.title, summary=update.summary)
        if update.severity is not None:
            await service.change_severity(session, incident, update.severity, actor, reason=update.reason)
        if update.status is not None:
            await service.change_status(session, incident, update.status, actor, reason=update.reason)
        return await snapshot(session, incident)


async def acknowledge(db: Database, ref: str, actor: Actor, *, authz: Authorizer) -> IncidentOut:
    async with authz.audited(db), db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await authz.authorize(session, actor, Action.ACKNOWLEDGE, Target.of_incident(incident))
        await service.acknowledge(session, incident, actor)
        return await snapshot(session, incident)


async def assign_role(
    db: Database, ref: str, role: Role, assignee: str, actor: Actor, *, authz: Authorizer
) -> RoleChange:
    """Give ``role`` to ``assignee`` (any handle of a person: id, Slack id, e-mail, login),
    recorded under the person's principal id."""
    if not assignee.strip():
        raise InputError("assignee must not be empty", field="assignee")
    principal = authz.directory.canonical(assignee)
    async with authz.audited(db), db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        target = Target.of_incident(incident, role=role, assignee=principal, details={"role": role.value})
        await authz.authorize(session, actor, Action.ASSIGN_ROLE, target)
        return await service.assign_role(session, incident, role, principal, actor)


async def add_note(db: Database, ref: str, text: str, actor: Actor, *, authz: Authorizer) -> TimelineEventOut:
    async with authz.audited(db), db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await authz.authorize(session, actor, Action.NOTE, Target.of_incident(incident))
        event = await service.add_note(session, incident, text, actor)
        return TimelineEventOut.model_validate(event, from_attributes=True)


async def get_timeline(
    db: Database, ref: str, *, after_id: int | None = None, limit: int = 500
) -> list[TimelineEventOut]:
    async with db.session() as session:
        incident = await service.get_incident(session, ref)
        assert incident.id is not None
        events = await timeline.list_events(session, incident.id, after_id=after_id, limit=limit)
        return [TimelineEventOut.model_validate(e, from_attributes=True) for e in events]
