"""Which steps an undo reverts: those that changed something, last first."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runbook import progress
from bot.runbook.states import Phase, StepStatus
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
