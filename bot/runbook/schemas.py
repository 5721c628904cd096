"""Typed answers of the runbook doors (REST, CLI, chat): snapshots safe to use after the
transaction. Secret inputs never appear in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.runbook.models import ApprovalLevel, InputType, OnFailure, Scalar
from bot.runbook.states import Origin, Phase, RunStatus, StepStatus


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Strict):
    """Body of ``POST /api/v1/runs`` and of a plan request."""

    runbook: str = Field(min_length=1, max_length=80)
    incident: str = Field(min_length=1, max_length=40)
    inputs: dict[str, Scalar] = Field(default_factory=dict)


class PlanRequest(_Strict):
    incident: str = Field(min_length=1, max_length=40)
    inputs: dict[str, Scalar] = Field(default_factory=dict)


class DenyRequest(_Strict):
    reason: str = Field("", max_length=2000)


class InputOut(BaseModel):
    type: InputType
    description: str
    sources: list[str]
    default: Scalar | None
    required: bool
    secret: bool
    choices: list[Scalar] | None


class StepSummaryOut(BaseModel):
    id: str
    title: str | None
    action: str
    on_failure: OnFailure
    has_undo: bool


class ApprovalPolicyOut(BaseModel):
    required: ApprovalLevel
    by_severity: dict[str, ApprovalLevel]
    approvers: list[str]
    four_eyes: bool
    expires_after_s: float


class RunbookOut(BaseModel):
    name: str
    title: str
    description: str
    owner: str
    file: str
    digest: str
    inputs: dict[str, InputOut]
    approval: ApprovalPolicyOut
    run_by: list[str]
    steps: list[StepSummaryOut]


class InvalidRunbookOut(BaseModel):
    file: str
    errors: list[str]


class RunbookListOut(BaseModel):
    runbooks: list[RunbookOut]
    invalid: list[InvalidRunbookOut]


class SuggestedRunbookOut(BaseModel):
    name: str
    title: str
    #: Why: "routing rule", or the runbook's own ``when:`` matcher.
    reasons: list[str]


class PlannedStepOut(BaseModel):
    step: str
    title: str | None
    action: str
    target: str | None
    mutating: bool
    params: dict[str, Any] | None
    summary: str | None
    current: dict[str, Any] | None
    intended: dict[str, Any] | None
    changes: bool | None
    error: str | None
    #: Why the plan is what it is, as the action says: e.g. why a version was chosen and the
    #: candidates there were (registry.rollback_alias), the condition and values of a check.
    details: dict[str, Any] | None = None


class ApprovalNeedOut(BaseModel):
    level: ApprovalLevel
    approvals_required: int
    approvers: list[str]
    four_eyes: bool
    expires_after_s: float
    #: Why more approvals are needed than the runbook's level at this severity.
    reason: str | None = None


class PlanOut(BaseModel):
    runbook: str
    title: str
    incident: str
    inputs: dict[str, Any]
    approval: ApprovalNeedOut
    steps: list[PlannedStepOut]

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.steps)


class StepOut(BaseModel):
    position: int
    phase: Phase
    step: str
    title: str | None
    action: str
    status: StepStatus
    target: str | None
    params: dict[str, Any] | None
    planned: dict[str, Any] | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    summary: str | None
    error: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None


class ApprovalOut(BaseModel):
    #: do: an approval of the run; undo: of its undo.
    phase: Phase = Phase.DO
    approver: str
    approver_label: str
    decision: str
    reason: str | None
    at: datetime


class RunOut(BaseModel):
    ref: str
    incident: str
    runbook: str
    runbook_title: str
    runbook_digest: str
    status: RunStatus
    origin: Origin
    rule: str | None
    requested_by: str
    requested_by_label: str
    inputs: dict[str, Any]
    approvals_required: int
    approvers: list[str]
    four_eyes: bool
    approvals: list[ApprovalOut]
    expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    end_reason: str | None
    ended_by: str | None
    cancel_requested_by: str | None
    undo_requested_by: str | None
    #: What awaits approval: the run (do) or, after an undo was asked for, its undo.
    approval_phase: Phase = Phase.DO
    #: The targets this run holds locked.
    locks: list[str]
    #: The dry-run made when it was requested, for its approvers (None: no approval needed).
    plan: list[PlannedStepOut] | None
    steps: list[StepOut]
    undo_steps: list[StepOut]

    @property
    def approvals_given(self) -> int:
        """Approvals of what awaits approval now (the run, or its undo)."""
        return sum(1 for a in self.approvals if a.decision == "approved" and a.phase == self.approval_phase)


class ApproversOut(BaseModel):
    """Who may approve a run: for the chat to show Approve/Deny only to them."""

    run: str
    status: RunStatus
    principals: list[str]
    four_eyes: bool
    requested_by: str
    approvals_required: int
    approved_by: list[str]
    remaining: int
    expires_at: datetime | None
