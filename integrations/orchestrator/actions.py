"""Runbook actions of the orchestrator kind: pause and resume a retraining schedule.

``orchestrator.pause_schedule`` and ``orchestrator.resume_schedule`` set the paused flag to
their target (never toggle): applying when already there changes nothing and reports
before == after. The inverse restores ``before``: undoing a pause of a schedule that was
already paused keeps it paused. Resuming a schedule that cannot run (a stale DAG, a
deployment without an active schedule) is refused with the reason, as is a flag that
does not read back as set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
    pick_instance,
)
from integrations.orchestrator.protocol import ScheduleState, TrainingOrchestrator

_WHAT = "orchestrators"
PAUSE = "orchestrator.pause_schedule"
RESUME = "orchestrator.resume_schedule"


class ScheduleParams(ActionParams):
    schedule: str = Field(
        min_length=1, description="Airflow DAG id, or Prefect deployment id or flow/deployment"
    )
    instance: str | None = None
    last_runs: int = Field(5, ge=0, le=50, description="recent runs to show in details")


def _label(paused: bool) -> str:
    return "paused" if paused else "active"


class _SetPaused(BaseAction[ScheduleParams]):
    params_model = ScheduleParams
    mutating = True
    paused: bool

    def __init__(self, instances: Mapping[str, TrainingOrchestrator]) -> None:
        self._instances = dict(instances)

    def _orchestrator(self, params: ScheduleParams) -> TrainingOrchestrator:
        return pick_instance(self._instances, params.instance, _WHAT)

    def target(self, params: ScheduleParams) -> str:
        return f"orchestrator:{self._orchestrator(params).name}/{params.schedule}"

    def _details(self, orchestrator: TrainingOrchestrator, state: ScheduleState) -> dict[str, Any]:
        return {"instance": orchestrator.name, "kind": orchestrator.kind, **state.details()}

    def _blocker(self, state: ScheduleState) -> str | None:
        """Why setting the flag cannot reach its purpose, or None."""
        if state.paused != self.paused and not self.paused:
            return state.unschedulable_reason
        return None

    async def plan(self, params: ScheduleParams, ctx: ActionContext) -> Plan:
        orchestrator = self._orchestrator(params)
        state = await orchestrator.get_schedule(params.schedule, last_runs=params.last_runs)
        if state.paused == self.paused:
            summary = f"schedule {params.schedule}: already {state.label}"
        else:
            summary = f"schedule {params.schedule}: {state.label} → {_label(self.paused)}"
        blocker = self._blocker(state)
        if blocker:
            summary += f" (apply will refuse: {blocker})"
        return Plan(
            target=self.target(params),
            current={"paused": state.paused},
            intended={"paused": self.paused},
            summary=summary,
            details=self._details(orchestrator, state),
        )

    async def apply(self, params: ScheduleParams, ctx: ActionContext) -> ActionResult:
        orchestrator = self._orchestrator(params)
        system = f"{orchestrator.kind} instance {orchestrator.name!r}"
        call = f"setting schedule {params.schedule!r} {_label(self.paused)}"
        before = await orchestrator.get_schedule(params.schedule, last_runs=params.last_runs)
        after = before
        if before.paused != self.paused:
            blocker = self._blocker(before)
            if blocker:
                raise RejectedIntegrationError(
                    f"{system}: refusing to resume schedule {params.schedule!r}: {blocker}",
                    system=system,
                    call=call,
                    hint="fix the schedule in the orchestrator first, then resume it",
                    reason="conflict",
                )
            await orchestrator.set_paused(params.schedule, self.paused)
            after = await orchestrator.get_schedule(params.schedule, last_runs=params.last_runs)
            if after.paused != self.paused:
                raise RejectedIntegrationError(
                    f"{system}: schedule {params.schedule!r} still reads {after.label} after "
                    f"setting it {_label(self.paused)}",
                    system=system,
                    call=call,
                    hint="someone or something changed it meanwhile; plan again",
                    reason="conflict",
                )
            summary = f"schedule {params.schedule}: {before.label} → {after.label}"
        else:
            summary = f"schedule {params.schedule}: already {before.label}"
        return ActionResult(
            target=self.target(params),
            before={"paused": before.paused},
            after={"paused": after.paused},
            summary=summary,
            details=self._details(orchestrator, after),
        )

    def inverse(self, params: ScheduleParams, before: dict[str, Any]) -> Invocation | None:
        was_paused = before.get("paused")
        if not isinstance(was_paused, bool):
            raise InputError(
                f"cannot undo {self.name}: the recorded state has no paused flag",
                hint=f"recorded state: {before!r}",
            )
        instance = self._orchestrator(params).name
        return Invocation(
            action=PAUSE if was_paused else RESUME,
            params={"schedule": params.schedule, "instance": instance},
        )


class PauseScheduleAction(_SetPaused):
    name = PAUSE
    description = "Pause a retraining schedule (Airflow DAG, Prefect deployment)."
    paused = True


class ResumeScheduleAction(_SetPaused):
    name = RESUME
    description = "Resume a paused retraining schedule (Airflow DAG, Prefect deployment)."
    paused = False


def register_actions(registry: ActionRegistry, instances: Mapping[str, TrainingOrchestrator]) -> None:
    """Register the pause and resume actions over the configured orchestrators."""
    registry.register(PauseScheduleAction(instances))
    registry.register(ResumeScheduleAction(instances))
