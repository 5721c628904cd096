"""What a committed runbook transaction tells the process: a run to pick up, metrics to count.

Queued with ``bot.db.after_commit`` and handed to the commit hook that ``install`` adds (the
event bus ignores them): nothing is signalled for a transaction that rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunReady:
    """A run became workable (pending, or undoing): a worker should pick it up."""

    run_id: int


@dataclass(frozen=True)
class RunRequested:
    runbook: str
    origin: str


@dataclass(frozen=True)
class RunFinished:
    runbook: str
    status: str
    #: From start to finish, when the run started.
    duration_s: float | None


@dataclass(frozen=True)
class StepFinished:
    action: str
    phase: str
    status: str
    duration_s: float | None
