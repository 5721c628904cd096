"""Snapshots of runs for the doors: plain values, safe to use after the transaction."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runbook import locks, progress
from bot.runbook.schemas import ApprovalOut, PlannedStepOut, RunOut, StepOut
from bot.runbook.states import Origin, Phase, RunStatus, StepStatus
from bot.runbook.tables import RunbookApproval, RunbookRun, RunbookStep


async def approvals_of(session: AsyncSession, run_id: int) -> list[RunbookApproval]:
    query = select(RunbookApproval).where(RunbookApproval.run_id == run_id).order_by(col(RunbookApproval.id))
    return list((await session.exec(query)).all())


async def snapshot(session: AsyncSession, run: RunbookRun) -> RunOut:
    assert run.id is not None
    rows = await progress.steps_of(session, run.id)
    approvals = await approvals_of(session, run.id)
    return RunOut(
        ref=run.ref,
        incident=f"INC-{run.incident_id}",
        runbook=run.runbook,
        runbook_title=run.runbook_title,
        runbook_digest=run.runbook_digest,
        status=RunStatus(run.status),
        origin=Origin(run.origin),
        rule=run.rule,
        requested_by=run.requested_by,
        requested_by_label=run.requested_by_label,
        inputs=dict(run.inputs),
        approvals_required=run.approvals_required,
        approvers=list(run.approvers),
        four_eyes=run.four_eyes,
        approvals=[ApprovalOut.model_validate(a, from_attributes=True) for a in approvals],
        expires_at=run.expires_at,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
        end_reason=run.end_reason,
        ended_by=run.ended_by,
        cancel_requested_by=run.cancel_requested_by,
        undo_requested_by=run.undo_requested_by,
        approval_phase=Phase.UNDO if run.undo_from is not None else Phase.DO,
        locks=await locks.held(session, run.id),
        plan=[PlannedStepOut.model_validate(p) for p in run.plan] if run.plan is not None else None,
        steps=[_step_out(r) for r in rows if r.phase == Phase.DO.value],
        undo_steps=sorted(
            (_step_out(r) for r in rows if r.phase == Phase.UNDO.value), key=lambda s: -s.position
        ),
    )


def _step_out(row: RunbookStep) -> StepOut:
    return StepOut(
        position=row.position,
        phase=Phase(row.phase),
        step=row.step_id,
        title=row.title,
        action=row.action,
        status=StepStatus(row.status),
        target=row.target,
        params=row.params,
        planned=row.planned,
        before=row.before,
        after=row.after,
        summary=row.summary,
        error=row.error,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
