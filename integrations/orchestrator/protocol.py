"""The training-orchestrator kind: pause and resume a retraining schedule, and read it.

A *schedule* is what the orchestrator names it: an Airflow DAG id, a Prefect deployment
(id or ``flow-name/deployment-name``). Implementations read its paused flag and its last
runs, and set the flag to a target value; they never toggle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from integrations.base import Instance


@dataclass(frozen=True)
class RunInfo:
    """One run of a schedule. ``state`` is the orchestrator's own, lower-cased."""

    run_id: str
    state: str
    start: datetime | None = None
    end: datetime | None = None
    run_type: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "run_type": self.run_type,
            "name": self.name,
        }


@dataclass(frozen=True)
class ScheduleState:
    """A schedule as read now.

    ``schedule_id`` is the orchestrator's id (the DAG id, the deployment UUID);
    ``description`` the human schedule ("Every hour", "every 3600s");
    ``unschedulable_reason`` says why resuming would start nothing (a stale DAG, a
    deployment without an active schedule), None when resuming would work.
    """

    schedule: str
    schedule_id: str
    paused: bool
    description: str | None = None
    next_run: datetime | None = None
    unschedulable_reason: str | None = None
    runs: tuple[RunInfo, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return "paused" if self.paused else "active"

    def details(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "description": self.description,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "unschedulable_reason": self.unschedulable_reason,
            "last_runs": [run.to_dict() for run in self.runs],
        }


@runtime_checkable
class TrainingOrchestrator(Instance, Protocol):
    """A configured orchestrator (one Airflow, one Prefect server...)."""

    async def get_schedule(self, schedule: str, *, last_runs: int = 5) -> ScheduleState:
        """The schedule's paused flag and its ``last_runs`` most recent runs, newest first.

        Raises ``RejectedIntegrationError`` (status 404) when the schedule does not exist.
        """
        ...

    async def set_paused(self, schedule: str, paused: bool) -> None:
        """Set the paused flag to ``paused`` (a no-op on the server when already there)."""
        ...
