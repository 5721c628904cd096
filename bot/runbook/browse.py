"""Doors to the runbook catalog: list, show, and the runbooks suggested for an incident."""

from __future__ import annotations

from bot.incident import service as incident_service
from bot.runbook import approvals
from bot.runbook.loader import Catalog, Runbook
from bot.runbook.models import RunbookSpec
from bot.runbook.schemas import (
    ApprovalPolicyOut,
    InputOut,
    InvalidRunbookOut,
    RunbookListOut,
    RunbookOut,
    StepSummaryOut,
    SuggestedRunbookOut,
)
from bot.runtime import Runtime


def catalog(runtime: Runtime) -> Catalog:
    return runtime.runbook_catalog


def expiry(runtime: Runtime, spec: RunbookSpec) -> float:
    return spec.approval.expires_after or runtime.settings.runbooks.approval_expiry


def runbook_out(runtime: Runtime, runbook: Runbook) -> RunbookOut:
    spec = runbook.spec
    return RunbookOut(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        owner=spec.owner,
        file=str(runbook.path),
        digest=runbook.digest,
        inputs={
            name: InputOut(
                type=i.type,
                description=i.description,
                sources=list(i.from_),
                default=i.default,
                required=i.required,
                secret=i.secret,
                choices=i.choices,
            )
            for name, i in spec.inputs.items()
        },
        approval=ApprovalPolicyOut(
            required=spec.approval.required,
            by_severity={s.value: lvl for s, lvl in spec.approval.by_severity.items()},
            approvers=approvals.approver_principals(spec, runtime.settings),
            four_eyes=spec.approval.four_eyes,
            expires_after_s=expiry(runtime, spec),
        ),
        run_by=approvals.run_principals(spec, runtime.settings),
        steps=[
            StepSummaryOut(
                id=s.id, title=s.title, action=s.action, on_failure=s.on_failure, has_undo=s.undo is not None
            )
            for s in spec.steps
        ],
    )


async def list_runbooks(runtime: Runtime) -> RunbookListOut:
    reports = catalog(runtime).reports()
    return RunbookListOut(
        runbooks=[runbook_out(runtime, r.runbook) for r in reports if r.runbook is not None],
        invalid=[
            InvalidRunbookOut(file=str(r.path), errors=[str(e) for e in r.errors])
            for r in reports
            if not r.ok
        ],
    )


async def get_runbook(runtime: Runtime, name: str) -> RunbookOut:
    return runbook_out(runtime, catalog(runtime).get(name))


async def suggested_for(runtime: Runtime, incident_ref: str) -> list[SuggestedRunbookOut]:
    """Runbooks for an incident: those its routing rule named, and those whose ``when:`` match."""
    async with runtime.db.session() as session:
        incident = await incident_service.get_incident(session, incident_ref)
    suggested = []
    for runbook in catalog(runtime).runbooks():
        spec = runbook.spec
        reasons = []
        if spec.name in incident.suggested_runbooks:
            reasons.append("routing rule")
        for i, matcher in enumerate(spec.when, 1):
            if matcher.matches(
                labels=incident.labels,
                severity=incident.severity,
                models=incident.models,
                services=incident.services,
            ):
                reasons.append(f"when #{i}")
        if reasons:
            suggested.append(SuggestedRunbookOut(name=spec.name, title=spec.title, reasons=reasons))
    return sorted(suggested, key=lambda s: ("routing rule" not in s.reasons, s.name))
