"""Undo: which steps it reverts (those that changed something, last first), and asking for it:
at once, or after the approvals the run's policy asks for (``bot.authz.approval``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import Actor
from bot.db import after_commit, utcnow
from bot.errors import ConflictError
from bot.incident.models import Incident
from bot.runbook import locks, progress
from bot.runbook.kinds import Kind
from bot.runbook.signals import RunReady
from bot.runbook.states import UNDOABLE, Phase, RunStatus, StepStatus
from bot.runbook.tables import RunbookRun, RunbookStep


def needs_undo(row: RunbookStep) -> bool:
    """A step that changed something: it succeeded, or it failed after apply was called (its
    outcome is unknown, so undo restores what its plan saw before)."""
    if not row.mutating or row.phase != Phase.DO.value:
        return False
    return row.status == StepStatus.SUCCEEDED.value or (
        row.status == StepStatus.FAILED.value and row.planned is not None
    )


async def plan_undo(session: AsyncSession, run: RunbookRun) -> list[RunbookStep]:
    """The undo rows of ``run`` still to do, last step first; creates or resets them."""
    assert run.id is not None
    rows = await progress.steps_of(session, run.id)
    existing = {r.position: r for r in rows if r.phase == Phase.UNDO.value}
    todo = []
    for row in sorted((r for r in rows if needs_undo(r)), key=lambda r: -r.position):
        undo = existing.get(row.position)
        if undo is None:
            undo = RunbookStep(
                run_id=run.id,
                position=row.position,
                phase=Phase.UNDO.value,
                step_id=row.step_id,
                title=row.title,
                mutating=row.mutating,
            )
        elif undo.status in (StepStatus.SUCCEEDED.value, StepStatus.SKIPPED.value):
            continue
        else:
            undo.status = StepStatus.PENDING.value
            undo.error = None
        session.add(undo)
        todo.append(undo)
    await session.flush()
    return todo


def undo_targets(rows: list[RunbookStep]) -> list[str]:
    """What an undo locks: each changed step's target, or the several resources it locked."""
    targets: list[str] = []
    for r in rows:
        if r.phase == Phase.DO.value and needs_undo(r) and r.target:
            targets.extend((r.planned or {}).get("locks") or [r.target])
    return targets


async def request_undo(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    actor: Actor,
    *,
    approvals_required: int = 0,
    expires_after: float = 0.0,
) -> None:
    """Undo a finished run now, or, when its approval policy asks for it, once approved."""
    status = RunStatus(run.status)
    if status not in UNDOABLE:
        raise ConflictError(
            f"{run.ref} is {status.value}: only a finished run (succeeded, failed, cancelled) can be undone",
            run=run.ref,
        )
    assert run.id is not None
    todo = await plan_undo(session, run)
    if not todo:
        raise ConflictError(f"{run.ref} changed nothing that is not undone already", run=run.ref)
    await locks.acquire(session, run.id, undo_targets(await progress.steps_of(session, run.id, Phase.DO)))
    run.undo_requested_by = actor.label
    run.undo_requester = actor.id
    run.updated_at = utcnow()
    steps = [r.step_id for r in todo]
    if approvals_required == 0:
        run.status = RunStatus.UNDOING.value
        run.finished_at = None
        session.add(run)
        await undo_started(session, incident, run, actor, steps)
        return
    run.undo_from = run.status
    run.status = RunStatus.AWAITING_APPROVAL.value
    run.approvals_required = max(run.approvals_required, approvals_required)
    run.expires_at = utcnow() + timedelta(seconds=expires_after)
    session.add(run)
    await progress.record(
        session,
        incident,
        run,
        Kind.APPROVAL_REQUESTED,
        f"{actor.label} asked to undo {run.ref} ({', '.join(steps)}, last first); it needs "
        f"{run.approvals_required} approval(s) from {', '.join(run.approvers)}",
        actor=actor,
        undo=True,
        steps=steps,
        approvers=list(run.approvers),
        approvals_required=run.approvals_required,
        four_eyes=run.four_eyes,
        requested_by=actor.label,
        expires_at=run.expires_at.isoformat(),
    )


async def undo_started(
    session: AsyncSession, incident: Incident, run: RunbookRun, actor: Actor, steps: list[str] | None = None
) -> None:
    assert run.id is not None
    if steps is None:
        rows = await progress.steps_of(session, run.id, Phase.UNDO)
        steps = [r.step_id for r in sorted(rows, key=lambda r: -r.position) if r.status == "pending"]
    by = run.undo_requested_by or actor.label
    await progress.record(
        session,
        incident,
        run,
        Kind.UNDO_STARTED,
        f"{by} asked to undo {run.ref}: {', '.join(steps)}, last first",
        actor=actor,
        steps=steps,
        requested_by=by,
    )
    after_commit(session, RunReady(run.id))


async def drop_undo(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    kind: Kind,
    text: str,
    actor: Actor,
    **data: Any,
) -> None:
    """An undo that was not approved: the run goes back to how it ended, its locks released."""
    assert run.id is not None and run.undo_from is not None
    run.status = run.undo_from
    run.undo_from = None
    run.expires_at = None
    run.updated_at = utcnow()
    session.add(run)
    await locks.release(session, run.id)
    await progress.record(session, incident, run, kind, text, actor=actor, undo=True, **data)
