"""Tables of runbook runs: runs, step runs, approvals, and the per-target locks.

Every state a run goes through is a row, committed before and after each action call, so a
process can die at any line and the next worker picks the run up from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bot.db import JSONType, UTCDateTime, utcnow
from bot.runbook.states import Origin, Phase, RunStatus, StepStatus, format_run_ref


class RunbookRun(SQLModel, table=True):
    __tablename__ = "runbook_run"
    __table_args__ = (
        Index("ix_runbook_run_status", "status"),
        Index("ix_runbook_run_incident", "incident_id", "id"),
        # A routing rule starts a runbook at most once per incident (people may start it again).
        Index(
            "uq_runbook_run_auto",
            "incident_id",
            "runbook",
            unique=True,
            sqlite_where=text("origin = 'auto'"),
            postgresql_where=text("origin = 'auto'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    runbook: str = Field(max_length=80)
    runbook_title: str = Field(max_length=200)
    #: SHA-256 of the runbook file, and the parsed runbook itself: a run executes (and is
    #: resumed and undone with) the version that was requested and approved.
    runbook_digest: str = Field(max_length=64)
    spec: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    #: Input values as shown to people (secret ones masked).
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: Values of inputs declared ``secret: true``; never shown, needed to execute and undo.
    secret_inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default=RunStatus.PENDING.value, max_length=20)
    #: manual (a person asked) or auto (a routing rule).
    origin: str = Field(default=Origin.MANUAL.value, max_length=10)
    #: The routing rule of an automatic run.
    rule: str | None = Field(default=None, max_length=200)
    requested_by: str = Field(max_length=200)
    requested_by_label: str = Field(max_length=200)
    #: The dry-run approvers are asked to approve (PlannedStepOut dumps); None without approval.
    plan: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONType))
    #: Approval policy taken when the run was requested.
    approvals_required: int = 0
    approvers: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    four_eyes: bool = True
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    error: str | None = Field(default=None, sa_column=Column(Text))
    #: Why a run was cancelled: cancelled, denied, approval_expired.
    end_reason: str | None = Field(default=None, max_length=30)
    ended_by: str | None = Field(default=None, max_length=200)
    cancel_requested_by: str | None = Field(default=None, max_length=200)
    undo_requested_by: str | None = Field(default=None, max_length=200)
    #: The principal id of who asked for the undo (four eyes on the undo's approval).
    undo_requester: str | None = Field(default=None, max_length=200)
    #: While an undo awaits approval: the status the run goes back to if it is not approved.
    undo_from: str | None = Field(default=None, max_length=20)
    #: The worker executing the run, and until when it owns it (renewed while it works).
    worker: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    @property
    def ref(self) -> str:
        assert self.id is not None, "run not flushed yet"
        return format_run_ref(self.id)


class RunbookStep(SQLModel, table=True):
    """One action call of a run: a step (phase ``do``) or the undo of a step (phase ``undo``)."""

    __tablename__ = "runbook_step"
    __table_args__ = (UniqueConstraint("run_id", "position", "phase", name="uq_runbook_step_position"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runbook_run.id", index=True)
    position: int
    phase: str = Field(default=Phase.DO.value, max_length=10)
    step_id: str = Field(max_length=60)
    title: str | None = Field(default=None, max_length=300)
    #: Empty for an undo whose inverse is not computed yet.
    action: str = Field(default="", max_length=100)
    mutating: bool = True
    status: str = Field(default=StepStatus.PENDING.value, max_length=20)
    target: str | None = Field(default=None, sa_column=Column(String(500)))
    #: Rendered parameters, secrets redacted.
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    #: The plan made right before apply: current, intended, summary.
    planned: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class RunbookApproval(SQLModel, table=True):
    """A decision on a run (phase ``do``) or on its undo (phase ``undo``); one per person each."""

    __tablename__ = "runbook_approval"
    __table_args__ = (UniqueConstraint("run_id", "phase", "approver", name="uq_runbook_approval_approver"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runbook_run.id", index=True)
    phase: str = Field(default=Phase.DO.value, max_length=10)
    approver: str = Field(max_length=200)
    approver_label: str = Field(max_length=200)
    #: approved | denied
    decision: str = Field(max_length=10)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RunbookLock(SQLModel, table=True):
    """One active run per target resource: the primary key makes the database refuse a second."""

    __tablename__ = "runbook_lock"

    target: str = Field(sa_column=Column(String(500), primary_key=True))
    run_id: int = Field(foreign_key="runbook_run.id", index=True)
    acquired_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
