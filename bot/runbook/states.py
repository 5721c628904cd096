"""States of runs and step runs, and which of them hold locks or can be worked on."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    #: Ready to execute (approved, or needing no approval); a worker picks it up.
    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Cancelled by a person, denied, or its approval expired (``end_reason`` says which).
    CANCELLED = "cancelled"
    #: Inverses of the succeeded steps are being applied, last step first.
    UNDOING = "undoing"
    UNDONE = "undone"


#: A run in these states holds its target locks.
ACTIVE = (RunStatus.PENDING, RunStatus.AWAITING_APPROVAL, RunStatus.RUNNING, RunStatus.UNDOING)
#: A worker executes runs in these states (after a crash: once the owner's lease ran out).
WORKABLE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.UNDOING)
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.UNDONE)
#: Runs whose succeeded steps may be undone.
UNDOABLE = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"
    #: Committed before apply: if the process dies now, the outcome is unknown and the
    #: step is re-planned on recovery.
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Not executed (the run stopped before it), or nothing to undo.
    SKIPPED = "skipped"


class Phase(StrEnum):
    DO = "do"
    UNDO = "undo"


class Origin(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class EndReason(StrEnum):
    CANCELLED = "cancelled"
    DENIED = "denied"
    EXPIRED = "approval_expired"


def format_run_ref(run_id: int) -> str:
    return f"RUN-{run_id}"


def parse_run_ref(ref: str | int) -> int:
    """``RUN-7``, ``run-7`` or ``7`` → 7; ValueError otherwise."""
    text = str(ref).strip()
    if text.upper().startswith("RUN-"):
        text = text[4:]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{ref!r} is not a run reference like RUN-7")
    return int(text)
