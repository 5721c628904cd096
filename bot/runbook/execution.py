"""A worker's in-memory view of the run it executes, loaded (and started) in one transaction."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import utcnow
from bot.incident import service as incident_service
from bot.runbook import progress
from bot.runbook.context import incident_context, run_context, step_result, template_context
from bot.runbook.kinds import Kind
from bot.runbook.models import RunbookSpec
from bot.runbook.states import WORKABLE, Phase, RunStatus, StepStatus
from bot.runbook.tables import RunbookApproval, RunbookRun, RunbookStep


@dataclass
class Execution:
    run_id: int
    ref: str
    incident_id: int
    incident_ref: str
    runbook: str
    spec: RunbookSpec
    status: RunStatus
    #: Real input values (secret ones included): only in memory.
    inputs: dict[str, Any]
    secrets: tuple[str, ...]
    incident: dict[str, Any]
    run: dict[str, Any]
    requested_by: str
    #: Who approved the run, and who asked for its undo: actions record them (registry tags).
    approved_by: tuple[str, ...]
    undo_requested_by: str | None
    #: Step runs by position: the steps, and the undos of steps.
    rows: dict[int, RunbookStep]
    undo_rows: dict[int, RunbookStep]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled_by: str | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def replace(self, row: RunbookStep) -> None:
        (self.undo_rows if row.phase == Phase.UNDO.value else self.rows)[row.position] = row

    def find(self, row: RunbookStep) -> RunbookStep:
        return (self.undo_rows if row.phase == Phase.UNDO.value else self.rows)[row.position]

    def result(self, row: RunbookStep) -> dict[str, Any]:
        return step_result(row)

    def context(self, upto: int) -> dict[str, Any]:
        """Template context of step ``upto``: the results of the steps before it that ran."""
        steps = {
            r.step_id: step_result(r)
            for position, r in sorted(self.rows.items())
            if position < upto and r.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
        }
        return template_context(self.inputs, self.incident, self.run, steps)


async def load_execution(session: AsyncSession, run_id: int, worker_id: str) -> Execution | None:
    """Lock the run, check this worker owns it, record that it starts (or resumes)."""
    found = (await session.exec(select(RunbookRun).where(RunbookRun.id == run_id))).first()
    if found is None:
        return None
    incident = await incident_service.get_incident(session, found.incident_id, for_update=True)
    run = await session.get(RunbookRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.worker != worker_id or RunStatus(run.status) not in WORKABLE:
        return None
    assert run.id is not None and incident.id is not None
    spec = RunbookSpec.model_validate(run.spec)
    rows = await progress.steps_of(session, run.id)
    do_rows = {r.position: r for r in rows if r.phase == Phase.DO.value}
    undo_rows = {r.position: r for r in rows if r.phase == Phase.UNDO.value}
    status = RunStatus(run.status)
    if status == RunStatus.PENDING:
        status = RunStatus.RUNNING
        run.status = status.value
        run.started_at = utcnow()
        session.add(run)
        await progress.record(
            session,
            incident,
            run,
            Kind.STARTED,
            f"{run.ref} started: {spec.title}",
            requested_by=run.requested_by_label,
            inputs=run.inputs,
            steps=[s.id for s in spec.steps],
            worker=worker_id,
        )
    elif status == RunStatus.RUNNING or any(r.status != StepStatus.PENDING.value for r in undo_rows.values()):
        in_doubt = [r.step_id for r in rows if r.status == StepStatus.RUNNING.value]
        await progress.record(
            session,
            incident,
            run,
            Kind.RESUMED,
            f"{run.ref} resumed by {worker_id} after an interruption"
            + (f"; re-checking step {', '.join(in_doubt)}" if in_doubt else ""),
            worker=worker_id,
            steps_in_doubt=in_doubt or None,
            phase="undo" if status == RunStatus.UNDOING else "do",
        )
    secret_values = tuple(str(v) for v in run.secret_inputs.values() if v not in (None, ""))
    # Who approved what this execution carries out: the run, or its undo (each has its own).
    phase = Phase.UNDO if status == RunStatus.UNDOING else Phase.DO
    approvers = await session.exec(
        select(RunbookApproval.approver_label)
        .where(
            RunbookApproval.run_id == run.id,
            RunbookApproval.decision == "approved",
            RunbookApproval.phase == phase.value,
        )
        .order_by(col(RunbookApproval.id))
    )
    return Execution(
        run_id=run.id,
        ref=run.ref,
        incident_id=incident.id,
        incident_ref=incident.ref,
        runbook=run.runbook,
        spec=spec,
        status=status,
        inputs={**run.inputs, **run.secret_inputs},
        secrets=secret_values,
        incident=incident_context(incident),
        run=run_context(run),
        requested_by=run.requested_by_label,
        approved_by=tuple(approvers.all()),
        undo_requested_by=run.undo_requested_by,
        rows=do_rows,
        undo_rows=undo_rows,
        cancelled_by=run.cancel_requested_by,
    )
