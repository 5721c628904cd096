"""Transitions of runs and step runs inside the caller's transaction, each with its one timeline
event (and audit entry): the engine decides *when*, this module decides *what is written*."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM, Actor
from bot.db import after_commit, utcnow
from bot.incident import timeline
from bot.incident.models import Incident, TimelineEvent
from bot.runbook import locks
from bot.runbook.calls import Call
from bot.runbook.kinds import Kind
from bot.runbook.signals import RunFinished, StepFinished
from bot.runbook.states import Phase, RunStatus, StepStatus
from bot.runbook.tables import RunbookRun, RunbookStep
from integrations.base import ActionResult, Plan

#: Set in a step's details when its before state held a secret input (recorded masked).
STATE_MASKED = "state_masked"


async def record(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    kind: Kind,
    text: str,
    *,
    actor: Actor = SYSTEM,
    **data: Any,
) -> TimelineEvent:
    body = {"run": run.ref, "runbook": run.runbook, **{k: v for k, v in data.items() if v is not None}}
    return await timeline.record(
        session,
        incident,
        kind=kind.value,
        text=text,
        actor=actor,
        data=body,
        audit_action=f"runbook.{kind.value.removeprefix('runbook_')}",
    )


async def steps_of(session: AsyncSession, run_id: int, phase: Phase | None = None) -> list[RunbookStep]:
    query = select(RunbookStep).where(RunbookStep.run_id == run_id)
    if phase is not None:
        query = query.where(RunbookStep.phase == phase.value)
    return list((await session.exec(query.order_by(col(RunbookStep.id)))).all())


async def finish(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    status: RunStatus,
    kind: Kind,
    text: str,
    *,
    actor: Actor = SYSTEM,
    error: str | None = None,
    end_reason: str | None = None,
    ended_by: str | None = None,
    **data: Any,
) -> None:
    """Move ``run`` to a final state: steps not reached are skipped (undos not reached stay
    pending, to be retried), locks released."""
    assert run.id is not None
    now = utcnow()
    skipped = []
    for row in await steps_of(session, run.id, Phase.DO):
        if row.status == StepStatus.PENDING.value:
            row.status = StepStatus.SKIPPED.value
            session.add(row)
            skipped.append(row.step_id)
    run.status = status.value
    run.finished_at = now
    run.updated_at = now
    run.worker = None
    run.lease_expires_at = None
    if error is not None:
        run.error = error
    if end_reason is not None:
        run.end_reason = end_reason
        run.ended_by = ended_by or actor.label
    session.add(run)
    await locks.release(session, run.id)
    await record(
        session,
        incident,
        run,
        kind,
        text,
        actor=actor,
        status=status.value,
        error=error,
        reason=end_reason,
        skipped=skipped or None,
        **data,
    )
    duration = (now - run.started_at).total_seconds() if run.started_at else None
    after_commit(session, RunFinished(run.runbook, status.value, duration))


def _step_data(row: RunbookStep) -> dict[str, Any]:
    return {"step": row.step_id, "phase": row.phase, "action": row.action, "target": row.target}


def _verb(row: RunbookStep) -> str:
    return "undo of step" if row.phase == Phase.UNDO.value else "step"


async def step_started(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    row: RunbookStep,
    call: Call,
    plan: Plan,
    *,
    masked: bool = False,
    restarted: bool = False,
) -> None:
    """Committed right before apply: from here on the outcome is unknown until the next commit.
    ``plan`` is already redacted; ``masked`` says its current state held a secret;
    ``restarted``: an observation interrupted earlier starts over (said on the timeline)."""
    first = row.attempts == 0
    now = utcnow()
    row.status = StepStatus.RUNNING.value
    row.action = call.action.name
    row.mutating = call.mutating
    row.target = call.target
    row.params = call.shown
    row.planned = {"current": plan.current, "intended": plan.intended, "summary": plan.summary}
    if masked:
        row.planned["masked"] = True
    if call.locks and list(call.locks) != [call.target]:
        row.planned["locks"] = list(call.locks)
    row.attempts += 1
    row.started_at = row.started_at or now
    session.add(row)
    if restarted:
        await record(
            session,
            incident,
            run,
            Kind.STEP_RESTARTED,
            f"{run.ref} {_verb(row)} {row.step_id} restarted from the beginning after an interruption "
            f"(an observation is never already in place): {plan.summary}",
            summary=plan.summary,
            attempt=row.attempts,
            **_step_data(row),
        )
    elif first:
        await record(
            session,
            incident,
            run,
            Kind.STEP_STARTED,
            f"{run.ref} {_verb(row)} {row.step_id} started: {plan.summary}",
            summary=plan.summary,
            before=plan.current,
            after=plan.intended,
            params=call.shown,
            **_step_data(row),
        )


async def step_retrying(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    row: RunbookStep,
    error: str,
    attempt: int,
    delay: float,
) -> None:
    row.error = error
    session.add(row)
    await record(
        session,
        incident,
        run,
        Kind.STEP_RETRYING,
        f"{run.ref} {_verb(row)} {row.step_id} attempt {attempt} failed, retrying in {delay:g}s: {error}",
        error=error,
        attempt=attempt,
        delay_s=delay,
        **_step_data(row),
    )


async def step_succeeded(
    session: AsyncSession,
    incident: Incident,
    run: RunbookRun,
    row: RunbookStep,
    result: ActionResult,
    *,
    masked: bool = False,
    recovered: bool = False,
) -> None:
    """``result`` is already redacted; ``masked`` says its before state held a secret (then
    undo refuses to restore it)."""
    now = utcnow()
    row.status = StepStatus.SUCCEEDED.value
    row.before = result.before
    row.after = result.after
    row.summary = result.summary
    row.details = {**result.details, STATE_MASKED: True} if masked else (result.details or None)
    row.error = None
    row.finished_at = now
    session.add(row)
    undo = row.phase == Phase.UNDO.value
    text = (
        f"{run.ref} undid step {row.step_id}: {result.summary}"
        if undo
        else f"{run.ref} step {row.step_id} succeeded: {result.summary}"
    )
    if recovered:
        text += " (already in place: not applied again)"
    await record(
        session,
        incident,
        run,
        Kind.STEP_UNDONE if undo else Kind.STEP_SUCCEEDED,
        text,
        summary=result.summary,
        before=result.before,
        after=result.after,
        changed=result.changed,
        attempts=row.attempts,
        recovered=recovered or None,
        **_step_data(row),
    )
    _count(session, row, now)


async def step_failed(
    session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep, error: str
) -> None:
    now = utcnow()
    row.status = StepStatus.FAILED.value
    row.error = error
    row.finished_at = now
    session.add(row)
    await record(
        session,
        incident,
        run,
        Kind.STEP_FAILED,
        f"{run.ref} {_verb(row)} {row.step_id} failed: {error}",
        error=error,
        attempts=row.attempts,
        **_step_data(row),
    )
    _count(session, row, now)


async def step_skipped(
    session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep, why: str
) -> None:
    row.status = StepStatus.SKIPPED.value
    row.summary = why
    row.finished_at = utcnow()
    session.add(row)
    await record(
        session,
        incident,
        run,
        Kind.STEP_SKIPPED,
        f"{run.ref} {_verb(row)} {row.step_id}: {why}",
        **_step_data(row),
    )


def _count(session: AsyncSession, row: RunbookStep, now: Any) -> None:
    duration = (now - row.started_at).total_seconds() if row.started_at else None
    after_commit(session, StepFinished(row.action or "unknown", row.phase, row.status, duration))
