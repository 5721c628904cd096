"""Runbook doors: every interface (REST, CLI, chat, automatic triggers) calls these.

Each call is one transaction per change (network calls such as dry-run plans happen outside
transactions) and returns a plain snapshot. Who may do what is decided by ``bot.authz`` on the
locked rows; refusals raise ``PermissionDeniedError`` and leave an audit entry. How many
approvals a run needs is fixed when it is asked for and only goes up (``bot.authz.approval``).
Runs execute on the workers (``worker``); ``execute`` runs one in the calling process (the CLI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import Actor
from bot.authz.actions import Action
from bot.authz.approval import ApprovalNeed
from bot.authz.policy import Target
from bot.errors import ConflictError
from bot.incident import service as incident_service
from bot.incident import timeline
from bot.incident.models import Incident
from bot.runbook import approvals, locks, planning, service, snapshots
from bot.runbook import undo as undo_requests
from bot.runbook.browse import catalog, expiry, get_runbook, list_runbooks, suggested_for
from bot.runbook.context import incident_context
from bot.runbook.engine import Engine
from bot.runbook.explain import plan_line
from bot.runbook.inputs import resolve, secret_values, shown
from bot.runbook.kinds import Kind
from bot.runbook.models import RunbookSpec
from bot.runbook.schemas import (
    ApprovalNeedOut,
    ApproversOut,
    PlanOut,
    RunOut,
)
from bot.runbook.states import WORKABLE, Origin, RunStatus, parse_run_ref
from bot.runbook.tables import RunbookRun
from bot.runbook.templating import Templates
from bot.runtime import Runtime

Inputs = Mapping[str, Any]


def _runbook_target(runtime: Runtime, spec: RunbookSpec, incident: Incident) -> Target:
    return Target(
        "runbook",
        spec.name,
        incident=incident,
        run_by=tuple(approvals.run_principals(spec, runtime.settings)),
    )


def _run_target(runtime: Runtime, incident: Incident, run: RunbookRun) -> Target:
    return Target(
        "runbook_run",
        run.ref,
        incident=incident,
        run=approvals.run_facts(run, runtime.settings),
        details={"runbook": run.runbook},
    )


async def _need(
    runtime: Runtime, session: AsyncSession, spec: RunbookSpec, incident: Incident, requester: str
) -> ApprovalNeed:
    return await approvals.need(session, runtime.settings, runtime.actions, spec, incident, requester)


async def plan_run(
    runtime: Runtime, runbook_name: str, incident_ref: str, inputs: Inputs, actor: Actor
) -> PlanOut:
    """Dry-run: render the inputs, plan every step (read-only), record it on the timeline."""
    runbook = catalog(runtime).get(runbook_name)
    spec = runbook.spec
    templates = Templates()
    authz = runtime.authz
    async with authz.audited(runtime.db), runtime.db.session() as session:
        incident = await incident_service.get_incident(session, incident_ref)
        await authz.authorize(session, actor, Action.DRY_RUN, _runbook_target(runtime, spec, incident))
        need = await _need(runtime, session, spec, incident, actor.id)
        context = incident_context(incident)
    values = resolve(spec, inputs, context, templates, file=str(runbook.path))
    secrets = secret_values(spec, values)
    steps = await planning.dry_run(
        spec,
        runtime.actions,
        templates,
        inputs=values,
        incident=context,
        run={"ref": None, "runbook": spec.name, "requested_by": actor.label, "origin": "dry-run"},
        secrets=secrets,
        actor=actor.label,
        plan_timeout=runtime.settings.runbooks.default_timeout,
    )
    plan = PlanOut(
        runbook=spec.name,
        title=spec.title,
        incident=context["ref"],
        inputs=shown(spec, values),
        approval=ApprovalNeedOut(
            level=need.level,
            approvals_required=need.approvals,
            approvers=approvals.approver_principals(spec, runtime.settings),
            four_eyes=need.four_eyes,
            expires_after_s=expiry(runtime, spec),
            reason=need.reason,
        ),
        steps=steps,
    )
    async with runtime.db.transaction() as session:
        locked = await incident_service.get_incident(session, incident_ref, for_update=True)
        lines = [plan_line(s) for s in steps]
        await timeline.record(
            session,
            locked,
            kind=Kind.DRY_RUN.value,
            text=f"Dry-run of {spec.name} by {actor.label}: " + "; ".join(lines),
            actor=actor,
            data={
                "runbook": spec.name,
                "inputs": plan.inputs,
                "steps": [s.model_dump(mode="json") for s in steps],
                "approvals_required": need.approvals,
                "ok": plan.ok,
            },
            audit_action="runbook.dry_run",
        )
    return plan


async def start_run(
    runtime: Runtime,
    runbook_name: str,
    incident_ref: str,
    inputs: Inputs,
    actor: Actor,
    *,
    origin: Origin = Origin.MANUAL,
    rule: str | None = None,
) -> RunOut:
    """Request a run: it waits for approval when its policy says so, else a worker starts it.
    Permission and approval level are checked before planning and again when the run is written."""
    runbook = catalog(runtime).get(runbook_name)
    spec = runbook.spec
    settings = runtime.settings
    templates = Templates()
    authz = runtime.authz
    async with authz.audited(runtime.db), runtime.db.session() as session:
        incident = await incident_service.get_incident(session, incident_ref)
        await authz.authorize(session, actor, Action.RUN, _runbook_target(runtime, spec, incident))
        need = await _need(runtime, session, spec, incident, actor.id)
        context = incident_context(incident)
    values = resolve(spec, inputs, context, templates, file=str(runbook.path))
    secrets = secret_values(spec, values)
    secret_names = spec.secret_inputs()
    run_context = {"ref": None, "runbook": spec.name, "requested_by": actor.label, "origin": origin.value}
    plan = None
    if need.approvals:
        plan = await planning.dry_run(
            spec,
            runtime.actions,
            templates,
            inputs=values,
            incident=context,
            run=run_context,
            secrets=secrets,
            actor=actor.label,
            plan_timeout=settings.runbooks.default_timeout,
        )
    async with authz.audited(runtime.db), runtime.db.transaction() as session:
        locked = await incident_service.get_incident(session, incident_ref, for_update=True)
        await authz.authorize(session, actor, Action.RUN, _runbook_target(runtime, spec, locked))
        need = await _need(runtime, session, spec, locked, actor.id)
        run = await service.create_run(
            session,
            locked,
            runbook,
            actor,
            inputs=shown(spec, values),
            secret_inputs={k: v for k, v in values.items() if k in secret_names},
            origin=origin,
            rule=rule,
            approvals_required=need.approvals,
            approvers=approvals.approver_principals(spec, settings),
            four_eyes=need.four_eyes,
            expires_after=expiry(runtime, spec),
            plan=plan,
            reason=need.reason,
        )
        assert run.id is not None
        targets = planning.lock_targets(
            spec,
            runtime.actions,
            templates,
            inputs=values,
            incident=context,
            run={**run_context, "ref": run.ref},
            secrets=secrets,
        )
        await locks.acquire(session, run.id, targets)
        return await snapshots.snapshot(session, run)


async def _decide(runtime: Runtime, run_ref: str, actor: Actor, action: Action, reason: str = "") -> RunOut:
    authz = runtime.authz
    expired: str | None = None
    undo, deadline = False, None
    async with authz.audited(runtime.db), runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        undo, deadline = run.undo_from is not None, run.expires_at
        if await service.expire_if_due(session, incident, run):
            expired = run.ref
        else:
            await authz.authorize(session, actor, action, _run_target(runtime, incident, run))
            if action == Action.APPROVE:
                spec = RunbookSpec.model_validate(run.spec)
                facts = approvals.run_facts(run, runtime.settings)
                need = await _need(runtime, session, spec, incident, facts.asked_by)
                required = max(run.approvals_required, need.approvals)
                await service.approve(session, incident, run, actor, required=required)
            else:
                await service.deny(session, incident, run, actor, reason)
        out = await snapshots.snapshot(session, run)
    if expired is not None and undo:
        raise ConflictError(
            f"the approval request of the undo of {expired} expired at {deadline:%Y-%m-%d %H:%M:%S} "
            "UTC; nothing was undone",
            hint="ask for the undo again",
            run=expired,
        )
    if expired is not None:
        raise ConflictError(
            f"the approval request of {expired} expired at {deadline:%Y-%m-%d %H:%M:%S} UTC; it is cancelled",
            hint="request the run again",
            run=expired,
        )
    return out


async def approve(runtime: Runtime, run_ref: str, actor: Actor) -> RunOut:
    """Approve a run (or its undo); with the last approval needed a worker starts it."""
    return await _decide(runtime, run_ref, actor, Action.APPROVE)


async def deny(runtime: Runtime, run_ref: str, actor: Actor, reason: str = "") -> RunOut:
    return await _decide(runtime, run_ref, actor, Action.DENY, reason)


async def cancel(runtime: Runtime, run_ref: str, actor: Actor) -> RunOut:
    """Cancel a waiting run at once (or withdraw an undo that awaits approval); a running one
    stops after its current step."""
    authz = runtime.authz
    async with authz.audited(runtime.db), runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        await authz.authorize(session, actor, Action.CANCEL, _run_target(runtime, incident, run))
        await service.cancel(session, incident, run, actor)
        return await snapshots.snapshot(session, run)


async def undo(runtime: Runtime, run_ref: str, actor: Actor) -> RunOut:
    """Undo a finished run: the inverses of its changes, last first (a worker applies them).
    The undo needs the approvals the run's policy asks for now, and at least those the run
    needed; it waits for them like a run does."""
    authz = runtime.authz
    async with authz.audited(runtime.db), runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        await authz.authorize(session, actor, Action.UNDO, _run_target(runtime, incident, run))
        spec = RunbookSpec.model_validate(run.spec)
        need = await _need(runtime, session, spec, incident, actor.id)
        required = max(need.approvals, run.approvals_required)
        run.four_eyes = run.four_eyes or need.four_eyes
        await undo_requests.request_undo(
            session, incident, run, actor, approvals_required=required, expires_after=expiry(runtime, spec)
        )
        return await snapshots.snapshot(session, run)


async def get_run(runtime: Runtime, run_ref: str) -> RunOut:
    async with runtime.db.session() as session:
        return await snapshots.snapshot(session, await service.get_run(session, run_ref))


async def list_runs(
    runtime: Runtime,
    *,
    incident_ref: str | None = None,
    statuses: list[RunStatus] | None = None,
    limit: int = 50,
) -> list[RunOut]:
    async with runtime.db.session() as session:
        incident_id = None
        if incident_ref is not None:
            incident_id = (await incident_service.get_incident(session, incident_ref)).id
        runs = await service.list_runs(session, incident_id=incident_id, statuses=statuses, limit=limit)
        return [await snapshots.snapshot(session, r) for r in runs]


async def pending_approvals(runtime: Runtime, incident_ref: str) -> list[RunOut]:
    return await list_runs(runtime, incident_ref=incident_ref, statuses=[RunStatus.AWAITING_APPROVAL])


async def approvers_for(runtime: Runtime, run_ref: str) -> ApproversOut:
    run = await get_run(runtime, run_ref)
    approved_by = [
        a.approver for a in run.approvals if a.decision == "approved" and a.phase == run.approval_phase
    ]
    return ApproversOut(
        run=run.ref,
        status=run.status,
        principals=run.approvers,
        four_eyes=run.four_eyes,
        requested_by=run.requested_by,
        approvals_required=run.approvals_required,
        approved_by=approved_by,
        remaining=max(run.approvals_required - len(approved_by), 0),
        expires_at=run.expires_at,
    )


async def can_approve(runtime: Runtime, run_ref: str, actor: Actor) -> bool:
    """Whether ``actor`` may approve the run now (for showing an Approve button)."""
    async with runtime.db.session() as session:
        run = await service.get_run(session, run_ref)
        if run.status != RunStatus.AWAITING_APPROVAL.value:
            return False
        phase = service.approval_phase(run)
        decided = await snapshots.approvals_of(session, run.id or 0)
        if any(a.approver == actor.id and a.phase == phase.value for a in decided):
            return False
        incident = await incident_service.get_incident(session, run.incident_id)
        target = _run_target(runtime, incident, run)
        return await runtime.authz.allows(session, actor, Action.APPROVE, target)


async def expire_due(runtime: Runtime) -> list[str]:
    """Cancel the runs whose approval request expired; their refs."""
    async with runtime.db.session() as session:
        due = await service.due_for_expiry(session)
    expired = []
    for run_id in due:
        async with runtime.db.transaction() as session:
            incident, run = await service.lock_run(session, run_id)
            if await service.expire_if_due(session, incident, run):
                expired.append(run.ref)
    return expired


async def execute(runtime: Runtime, run_ref: str, *, poll_s: float = 0.5) -> RunOut:
    """Execute a run in this process until it finishes or waits for approval (the CLI's way);
    when a worker elsewhere has it, wait for that worker instead."""
    run_id = parse_run_ref(run_ref)
    engine = Engine(runtime.db, runtime.actions, runtime.settings.runbooks)
    while True:
        await engine.run(run_id)
        out = await get_run(runtime, run_ref)
        if out.status not in WORKABLE:
            return out
        await asyncio.sleep(poll_s)


__all__ = [
    "approve",
    "approvers_for",
    "can_approve",
    "cancel",
    "deny",
    "execute",
    "expire_due",
    "get_run",
    "get_runbook",
    "list_runbooks",
    "list_runs",
    "pending_approvals",
    "plan_run",
    "start_run",
    "suggested_for",
    "undo",
]
