"""Run rules inside the caller's transaction: create, approve, deny, cancel, undo, expire.

Functions take the session first and the incident row locked by the caller (incident first,
then the run: the same order everywhere, so concurrent writers queue instead of deadlocking).
Each change writes exactly one timeline event through ``progress.record``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM, Actor
from bot.db import after_commit, utcnow
from bot.errors import ConflictError, NotFoundError
from bot.incident import service as incident_service
from bot.incident.models import Incident
from bot.runbook import progress
from bot.runbook.kinds import Kind
from bot.runbook.loader import Runbook
from bot.runbook.schemas import PlannedStepOut
from bot.runbook.signals import RunReady, RunRequested
from bot.runbook.snapshots import approvals_of
from bot.runbook.states import (
    ACTIVE,
    Origin,
    Phase,
    RunStatus,
    format_run_ref,
    parse_run_ref,
)
from bot.runbook.tables import RunbookApproval, RunbookRun, RunbookStep
from bot.runbook.undo import drop_undo, undo_started

#: ``reason`` of the conflict when a routing rule's runbook already started for the incident.
AUTO_RUN_ONCE = "auto_run_once"


async def get_run(session: AsyncSession, ref: str | int) -> RunbookRun:
    try:
        run_id = parse_run_ref(ref)
    except ValueError as exc:
        raise NotFoundError(str(exc), run=str(ref)) from None
    run = await session.get(RunbookRun, run_id)
    if run is None:
        raise NotFoundError(f"run {format_run_ref(run_id)} does not exist", run=format_run_ref(run_id))
    return run


async def lock_run(session: AsyncSession, ref: str | int) -> tuple[Incident, RunbookRun]:
    """The run and its incident, both locked until commit (incident first)."""
    found = await get_run(session, ref)
    incident = await incident_service.get_incident(session, found.incident_id, for_update=True)
    run = await session.get(RunbookRun, found.id, with_for_update=True, populate_existing=True)
    assert run is not None
    return incident, run


async def previous_auto_run(session: AsyncSession, incident_id: int, runbook: str) -> RunbookRun | None:
    query = select(RunbookRun).where(
        RunbookRun.incident_id == incident_id,
        RunbookRun.runbook == runbook,
        RunbookRun.origin == Origin.AUTO.value,
    )
    return (await session.exec(query)).first()


async def create_run(
    session: AsyncSession,
    incident: Incident,
    runbook: Runbook,
    actor: Actor,
    *,
    inputs: dict[str, Any],
    secret_inputs: dict[str, Any],
    origin: Origin,
    rule: str | None,
    approvals_required: int,
    approvers: list[str],
    four_eyes: bool,
    expires_after: float,
    plan: list[PlannedStepOut] | None,
    reason: str | None = None,
) -> RunbookRun:
    """A new run with its steps (pending), or awaiting approval when the policy asks for it."""
    assert incident.id is not None
    spec = runbook.spec
    if origin == Origin.AUTO:
        earlier = await previous_auto_run(session, incident.id, spec.name)
        if earlier is not None:
            raise ConflictError(
                f"runbook {spec.name} was already started automatically for {incident.ref} ({earlier.ref})",
                hint="a person may start it again",
                run=earlier.ref,
                reason=AUTO_RUN_ONCE,
            )
    now = utcnow()
    waits = approvals_required > 0
    run = RunbookRun(
        incident_id=incident.id,
        runbook=spec.name,
        runbook_title=spec.title,
        runbook_digest=runbook.digest,
        spec=spec.model_dump(mode="json", by_alias=True),
        inputs=inputs,
        secret_inputs=secret_inputs,
        status=(RunStatus.AWAITING_APPROVAL if waits else RunStatus.PENDING).value,
        origin=origin.value,
        rule=rule,
        requested_by=actor.id,
        requested_by_label=actor.label,
        approvals_required=approvals_required,
        approvers=approvers,
        four_eyes=four_eyes,
        expires_at=now + timedelta(seconds=expires_after) if waits else None,
        plan=[p.model_dump(mode="json") for p in plan] if plan is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    try:
        await session.flush()
    except IntegrityError:
        # Two alerts raced to auto-run it: the partial unique index let one through.
        raise ConflictError(
            f"runbook {spec.name} was already started automatically for {incident.ref}",
            reason=AUTO_RUN_ONCE,
        ) from None
    assert run.id is not None
    for position, step in enumerate(spec.steps):
        session.add(
            RunbookStep(
                run_id=run.id, position=position, step_id=step.id, title=step.title, action=step.action
            )
        )
    await session.flush()
    via = f" (routing rule {rule})" if rule else ""
    await progress.record(
        session,
        incident,
        run,
        Kind.REQUESTED,
        f"{actor.label} requested {run.ref}: {spec.title}{via}",
        actor=actor,
        inputs=inputs,
        origin=origin.value,
        rule=rule,
        requested_by=actor.label,
        approvals_required=approvals_required,
    )
    after_commit(session, RunRequested(spec.name, origin.value))
    if waits:
        await progress.record(
            session,
            incident,
            run,
            Kind.APPROVAL_REQUESTED,
            f"{run.ref} ({spec.title}) needs {approvals_required} approval(s) from {', '.join(approvers)}"
            + (f" ({reason})" if reason else ""),
            actor=actor,
            approval_reason=reason,
            approvers=approvers,
            approvals_required=approvals_required,
            four_eyes=four_eyes,
            requested_by=actor.label,
            expires_at=run.expires_at.isoformat() if run.expires_at else None,
            plan=[p.model_dump(mode="json") for p in plan or []],
        )
    else:
        after_commit(session, RunReady(run.id))
    return run


def _expired(run: RunbookRun, now: datetime) -> bool:
    return run.expires_at is not None and run.expires_at <= now


def _require_awaiting(run: RunbookRun, doing: str) -> None:
    if run.status != RunStatus.AWAITING_APPROVAL.value:
        raise ConflictError(
            f"{run.ref} is {run.status}, not awaiting approval: nothing to {doing}", run=run.ref
        )


async def expire_if_due(session: AsyncSession, incident: Incident, run: RunbookRun) -> bool:
    """Cancel a run (or drop an undo) whose approvals did not come in time; True when it did so."""
    if run.status != RunStatus.AWAITING_APPROVAL.value or not _expired(run, utcnow()):
        return False
    expires_at = run.expires_at.isoformat() if run.expires_at else None
    if run.undo_from is not None:
        await drop_undo(
            session,
            incident,
            run,
            Kind.APPROVAL_EXPIRED,
            f"the undo of {run.ref} was not approved in time; nothing was undone",
            SYSTEM,
            expires_at=expires_at,
        )
        return True
    await progress.finish(
        session,
        incident,
        run,
        RunStatus.CANCELLED,
        Kind.APPROVAL_EXPIRED,
        f"{run.ref} cancelled: approval did not come in time",
        end_reason="approval_expired",
        ended_by=SYSTEM.label,
        expires_at=expires_at,
    )
    return True


async def due_for_expiry(session: AsyncSession) -> list[int]:
    query = select(RunbookRun.id).where(
        RunbookRun.status == RunStatus.AWAITING_APPROVAL.value, col(RunbookRun.expires_at) <= utcnow()
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


def approval_phase(run: RunbookRun) -> Phase:
    """What an approval of ``run`` is for now: the run itself, or its undo."""
    return Phase.UNDO if run.undo_from is not None else Phase.DO


async def approve(
    session: AsyncSession, incident: Incident, run: RunbookRun, actor: Actor, *, required: int
) -> None:
    """Record an approval (the caller authorized the approver). ``required``: the approvals
    the run needs now; the run's level only goes up. The last one starts the run (or its undo)."""
    _require_awaiting(run, "approve")
    assert run.id is not None
    phase = approval_phase(run)
    decided = [a for a in await approvals_of(session, run.id) if a.phase == phase.value]
    if any(a.approver == actor.id for a in decided):
        raise ConflictError(f"{actor.label} has already approved {run.ref}", run=run.ref)
    raised_from = None
    if required > run.approvals_required:
        raised_from, run.approvals_required = run.approvals_required, required
    session.add(
        RunbookApproval(
            run_id=run.id,
            phase=phase.value,
            approver=actor.id,
            approver_label=actor.label,
            decision="approved",
        )
    )
    await session.flush()
    approved = [
        a for a in await approvals_of(session, run.id) if a.phase == phase.value and a.decision == "approved"
    ]
    remaining = max(run.approvals_required - len(approved), 0)
    what = f"the undo of {run.ref}" if phase == Phase.UNDO else run.ref
    text = f"{actor.label} approved {what}"
    if raised_from is not None:
        text += f" (it now needs {run.approvals_required} approvals: the incident is {incident.severity})"
    text += f"; {remaining} more approval(s) needed" if remaining else "; it starts now"
    run.updated_at = utcnow()
    if remaining == 0:
        run.status = (RunStatus.UNDOING if phase == Phase.UNDO else RunStatus.PENDING).value
        if phase == Phase.UNDO:
            run.undo_from = None
            run.finished_at = None
        after_commit(session, RunReady(run.id))
    session.add(run)
    await progress.record(
        session,
        incident,
        run,
        Kind.APPROVED,
        text,
        actor=actor,
        approved_by=[a.approver_label for a in approved],
        remaining=remaining,
        approvers=list(run.approvers),
        approvals_required=run.approvals_required,
        undo=phase == Phase.UNDO or None,
    )
    if remaining == 0 and phase == Phase.UNDO:
        await undo_started(session, incident, run, actor)


async def deny(session: AsyncSession, incident: Incident, run: RunbookRun, actor: Actor, reason: str) -> None:
    _require_awaiting(run, "deny")
    assert run.id is not None
    phase = approval_phase(run)
    session.add(
        RunbookApproval(
            run_id=run.id,
            phase=phase.value,
            approver=actor.id,
            approver_label=actor.label,
            decision="denied",
            reason=reason or None,
        )
    )
    await session.flush()
    if phase == Phase.UNDO:
        await drop_undo(
            session,
            incident,
            run,
            Kind.DENIED,
            f"{actor.label} denied the undo of {run.ref}" + (f": {reason}" if reason else ""),
            actor,
            denied_by=actor.label,
            error=reason or None,
        )
        return
    await progress.finish(
        session,
        incident,
        run,
        RunStatus.CANCELLED,
        Kind.DENIED,
        f"{actor.label} denied {run.ref}" + (f": {reason}" if reason else ""),
        actor=actor,
        end_reason="denied",
        error=reason or None,
        denied_by=actor.label,
    )


async def cancel(session: AsyncSession, incident: Incident, run: RunbookRun, actor: Actor) -> None:
    """Cancel a run that has not started; ask a running one to stop after its current step."""
    status = RunStatus(run.status)
    if status == RunStatus.AWAITING_APPROVAL and run.undo_from is not None:
        await drop_undo(
            session, incident, run, Kind.CANCELLED, f"{actor.label} withdrew the undo of {run.ref}", actor
        )
        return
    if status in (RunStatus.AWAITING_APPROVAL, RunStatus.PENDING):
        await progress.finish(
            session,
            incident,
            run,
            RunStatus.CANCELLED,
            Kind.CANCELLED,
            f"{actor.label} cancelled {run.ref} before it started",
            actor=actor,
            end_reason="cancelled",
        )
        return
    if status != RunStatus.RUNNING:
        raise ConflictError(
            f"{run.ref} is {status.value}: only a run that is waiting or running can be cancelled",
            run=run.ref,
        )
    if run.cancel_requested_by:
        return
    run.cancel_requested_by = actor.label
    session.add(run)
    await progress.record(
        session,
        incident,
        run,
        Kind.CANCEL_REQUESTED,
        f"{actor.label} asked {run.ref} to stop; it stops after the step in progress",
        actor=actor,
        cancelled_by=actor.label,
    )


async def list_runs(
    session: AsyncSession,
    *,
    incident_id: int | None = None,
    statuses: list[RunStatus] | None = None,
    limit: int = 50,
) -> list[RunbookRun]:
    query = select(RunbookRun)
    if incident_id is not None:
        query = query.where(RunbookRun.incident_id == incident_id)
    if statuses:
        query = query.where(col(RunbookRun.status).in_([s.value for s in statuses]))
    return list((await session.exec(query.order_by(col(RunbookRun.id).desc()).limit(limit))).all())


def is_active(run: RunbookRun) -> bool:
    return RunStatus(run.status) in ACTIVE
