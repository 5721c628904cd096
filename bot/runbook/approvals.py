"""What the authorization rules need to know about runbooks and runs.

Who may run, approve, deny, cancel and undo is decided by ``bot.authz`` (one place for every
door); this module supplies the runbook's side: its principals (``run_by`` and
``approval.approvers``, else the ``permissions:`` settings), whether it changes systems, and
the approvals a request needs (``bot.authz.approval``).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.authz.approval import ApprovalNeed, approval_need
from bot.authz.policy import RunFacts
from bot.config import Settings
from bot.incident.models import Incident
from bot.runbook.models import RunbookSpec
from bot.runbook.tables import RunbookRun
from integrations.base import ActionRegistry


def run_principals(spec: RunbookSpec, settings: Settings) -> list[str]:
    return list(spec.run_by or settings.permissions.run_runbooks)


def approver_principals(spec: RunbookSpec, settings: Settings) -> list[str]:
    return list(spec.approval.approvers or settings.permissions.approve_runbooks)


def changes_systems(spec: RunbookSpec, actions: ActionRegistry) -> bool:
    """Whether a step (or its explicit undo) calls a mutating action; an unknown one counts."""
    names = [step.action for step in spec.steps] + [step.undo.action for step in spec.steps if step.undo]
    return any(name not in actions or actions.get(name).mutating for name in names)


def run_facts(run: RunbookRun, settings: Settings) -> RunFacts:
    spec = RunbookSpec.model_validate(run.spec)
    return RunFacts(
        ref=run.ref,
        runbook=run.runbook,
        requested_by=run.requested_by,
        approvers=tuple(run.approvers),
        run_by=tuple(run_principals(spec, settings)),
        four_eyes=run.four_eyes,
        undo_requester=run.undo_requester if run.undo_from is not None else None,
    )


async def need(
    session: AsyncSession,
    settings: Settings,
    actions: ActionRegistry,
    spec: RunbookSpec,
    incident: Incident,
    requester: str,
) -> ApprovalNeed:
    return await approval_need(
        session,
        settings.permissions,
        spec,
        incident,
        requester,
        changes_systems=changes_systems(spec, actions),
    )
