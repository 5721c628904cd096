"""What a verification says about the incident: a step declared ``mitigates: true`` (the rollback's
metric check) moves the incident to mitigated when it succeeds, with the check as the reason.

The rules, in the transaction that records the step (or the run's end):

- success: an open incident that is not mitigated yet becomes mitigated (``status_changed`` with
  ``mitigated_by: runbook``, the run and the step); one already mitigated (say, by its alerts
  resolving) gets a ``mitigation_verified`` event instead;
- failure (the check ran and did not hold; a cancel is not a failure): the incident is not
  mitigated. If it was (by alerts, or by an earlier run), it goes back to investigating: the
  check is the stricter evidence;
- undo of a run whose verification succeeded: what it verified is reverted, so a mitigated
  incident goes back to investigating. Resolved and closed incidents are left alone: a person
  decided those.

Alert-driven mitigation (``alerts.resolution.auto_mitigate``) stays; its status change says
``mitigated_by: alerts``.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM
from bot.incident import service as incident_service
from bot.incident import timeline
from bot.incident.domain import Status
from bot.incident.models import Incident
from bot.runbook.models import RunbookSpec
from bot.runbook.states import Phase, RunStatus, StepStatus
from bot.runbook.tables import RunbookRun, RunbookStep

#: ``mitigated_by`` of a status change made by a runbook's verification.
BY_RUNBOOK = "runbook"
#: Statuses a successful verification moves to mitigated.
_BEFORE_MITIGATION = (Status.TRIGGERED, Status.INVESTIGATING, Status.IDENTIFIED)


def mitigates(spec: RunbookSpec, row: RunbookStep) -> bool:
    """The step of ``row`` is declared to mitigate the incident (forward phase only)."""
    return row.phase == Phase.DO.value and spec.steps[row.position].mitigates


def _data(run: RunbookRun, row: RunbookStep) -> dict[str, str]:
    return {"mitigated_by": BY_RUNBOOK, "run": run.ref, "runbook": run.runbook, "step": row.step_id}


async def verified(
    session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep, summary: str
) -> None:
    reason = f"verified: {summary}"
    status = Status(incident.status)
    if status in _BEFORE_MITIGATION:
        await incident_service.change_status(
            session,
            incident,
            Status.MITIGATED,
            SYSTEM,
            reason=f"{reason} ({run.ref} step {row.step_id})",
            data=_data(run, row),
        )
    elif status == Status.MITIGATED:
        await timeline.record(
            session,
            incident,
            kind="mitigation_verified",
            text=f"Mitigation verified by {run.ref} step {row.step_id}: {summary}",
            actor=SYSTEM,
            data={**_data(run, row), "reason": reason},
        )


async def not_verified(
    session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep, error: str
) -> None:
    if Status(incident.status) == Status.MITIGATED:
        await incident_service.change_status(
            session,
            incident,
            Status.INVESTIGATING,
            SYSTEM,
            reason=f"verification failed ({run.ref} step {row.step_id}): {error}",
            data={"run": run.ref, "runbook": run.runbook, "step": row.step_id, "verification": "failed"},
        )


async def after_undo(
    session: AsyncSession, incident: Incident, run: RunbookRun, rows: list[RunbookStep]
) -> None:
    """``run`` is undone: a mitigation its verification confirmed no longer holds."""
    spec = RunbookSpec.model_validate(run.spec)
    confirmed = [r for r in rows if mitigates(spec, r) and r.status == StepStatus.SUCCEEDED.value]
    if RunStatus(run.status) != RunStatus.UNDONE or not confirmed:
        return
    if Status(incident.status) == Status.MITIGATED:
        await incident_service.change_status(
            session,
            incident,
            Status.INVESTIGATING,
            SYSTEM,
            reason=f"{run.ref} undone: the change its step {confirmed[0].step_id} verified is reverted",
            data={"run": run.ref, "runbook": run.runbook, "undone": True},
        )
