"""Runbook doors: every interface (REST, CLI, chat, automatic triggers) calls these.

Each call is one transaction per change (network calls such as dry-run plans happen outside
transactions) and returns a plain snapshot. Permission refusals raise
``PermissionDeniedError`` and leave an audit entry. Runs execute on the workers (``worker``);
``execute`` runs one in the calling process (the CLI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bot.audit.service import audit
from bot.auth.actor import Actor
from bot.errors import ConflictError, PermissionDeniedError
from bot.incident import service as incident_service
from bot.incident import timeline
from bot.permissions import GroupResolver
from bot.runbook import approvals, locks, planning, service, snapshots
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
from bot.runbook.templating import Templates
from bot.runtime import Runtime

Inputs = Mapping[str, Any]


async def plan_run(
    runtime: Runtime, runbook_name: str, incident_ref: str, inputs: Inputs, actor: Actor
) -> PlanOut:
    """Dry-run: render the inputs, plan every step (read-only), record it on the timeline."""
    runbook = catalog(runtime).get(runbook_name)
    spec = runbook.spec
    templates = Templates()
    async with runtime.db.session() as session:
        incident = await incident_service.get_incident(session, incident_ref)
        severity = incident.severity
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
    level = spec.approval.level_for(severity)
    plan = PlanOut(
        runbook=spec.name,
        title=spec.title,
        incident=context["ref"],
        inputs=shown(spec, values),
        approval=ApprovalNeedOut(
            level=level,
            approvals_required=level.approvals,
            approvers=approvals.approver_principals(spec, runtime.settings),
            four_eyes=spec.approval.four_eyes,
            expires_after_s=expiry(runtime, spec),
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
                "approvals_required": level.approvals,
                "ok": plan.ok,
            },
            audit_action="runbook.dry_run",
        )
    return plan


async def _refused(
    runtime: Runtime, actor: Actor, what: str, target: str, incident_id: int, error: Exception
) -> None:
    async with runtime.db.transaction() as session:
        audit(
            session,
            actor,
            f"runbook.{what}_refused",
            target_type="runbook_run" if target.startswith("RUN-") else "runbook",
            target_id=target,
            incident_id=incident_id,
            details={"reason": str(error)},
        )


async def start_run(
    runtime: Runtime,
    runbook_name: str,
    incident_ref: str,
    inputs: Inputs,
    actor: Actor,
    *,
    groups: GroupResolver | None = None,
    origin: Origin = Origin.MANUAL,
    rule: str | None = None,
) -> RunOut:
    """Request a run: it waits for approval when its policy says so, else a worker starts it."""
    runbook = catalog(runtime).get(runbook_name)
    spec = runbook.spec
    settings = runtime.settings
    templates = Templates()
    async with runtime.db.session() as session:
        incident = await incident_service.get_incident(session, incident_ref)
        assert incident.id is not None
        context = incident_context(incident)
        roles = await approvals.roles_held(session, incident.id, actor)
    try:
        await approvals.require_runner(actor, spec, settings, roles, approvals.groups_for(settings, groups))
    except PermissionDeniedError as exc:
        await _refused(runtime, actor, "run", spec.name, incident.id, exc)
        raise
    values = resolve(spec, inputs, context, templates, file=str(runbook.path))
    secrets = secret_values(spec, values)
    secret_names = spec.secret_inputs()
    level = spec.approval.level_for(incident.severity)
    run_context = {"ref": None, "runbook": spec.name, "requested_by": actor.label, "origin": origin.value}
    plan = None
    if level.approvals:
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
    async with runtime.db.transaction() as session:
        locked = await incident_service.get_incident(session, incident_ref, for_update=True)
        run = await service.create_run(
            session,
            locked,
            runbook,
            actor,
            inputs=shown(spec, values),
            secret_inputs={k: v for k, v in values.items() if k in secret_names},
            origin=origin,
            rule=rule,
            approvals_required=level.approvals,
            approvers=approvals.approver_principals(spec, settings),
            four_eyes=spec.approval.four_eyes,
            expires_after=expiry(runtime, spec),
            plan=plan,
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


async def _decide(
    runtime: Runtime,
    run_ref: str,
    actor: Actor,
    what: str,
    groups: GroupResolver | None,
    reason: str = "",
) -> RunOut:
    group_members = approvals.groups_for(runtime.settings, groups)
    expired: str | None = None
    refused: PermissionDeniedError | None = None
    incident_id = 0
    async with runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        assert incident.id is not None
        incident_id = incident.id
        roles = await approvals.roles_held(session, incident.id, actor)
        if await service.expire_if_due(session, incident, run):
            expired = run.ref
        elif what == "approve":
            why = await approvals.may_approve(actor, run, roles, group_members)
            if why is None:
                await service.approve(session, incident, run, actor)
            else:
                refused = PermissionDeniedError(why, run=run.ref)
        elif await approvals.may_deny(actor, run, roles, group_members):
            await service.deny(session, incident, run, actor, reason)
        else:
            refused = PermissionDeniedError(
                f"{actor.label} may not deny {run.ref} (approvers: {', '.join(run.approvers) or 'no one'})",
                run=run.ref,
            )
        out = await snapshots.snapshot(session, run)
    if refused is not None:
        await _refused(runtime, actor, what, out.ref, incident_id, refused)
        raise refused
    if expired is not None:
        raise ConflictError(
            f"the approval request of {expired} expired at {out.expires_at:%Y-%m-%d %H:%M:%S} UTC; "
            "it is cancelled",
            hint="request the run again",
            run=expired,
        )
    return out


async def approve(
    runtime: Runtime, run_ref: str, actor: Actor, *, groups: GroupResolver | None = None
) -> RunOut:
    """Approve a run; with the last approval needed it becomes pending and a worker starts it."""
    return await _decide(runtime, run_ref, actor, "approve", groups)


async def deny(
    runtime: Runtime, run_ref: str, actor: Actor, reason: str = "", *, groups: GroupResolver | None = None
) -> RunOut:
    return await _decide(runtime, run_ref, actor, "deny", groups, reason)


async def cancel(
    runtime: Runtime, run_ref: str, actor: Actor, *, groups: GroupResolver | None = None
) -> RunOut:
    """Cancel a waiting run at once; a running one stops after its current step."""
    async with runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        assert incident.id is not None
        spec = RunbookSpec.model_validate(run.spec)
        roles = await approvals.roles_held(session, incident.id, actor)
        group_members = approvals.groups_for(runtime.settings, groups)
        allowed = await approvals.may_cancel(actor, run, spec, runtime.settings, roles, group_members)
        if allowed:
            await service.cancel(session, incident, run, actor)
        out = await snapshots.snapshot(session, run)
    if not allowed:
        error = PermissionDeniedError(f"{actor.label} may not cancel {out.ref}", run=out.ref)
        await _refused(runtime, actor, "cancel", out.ref, incident.id, error)
        raise error
    return out


async def undo(
    runtime: Runtime, run_ref: str, actor: Actor, *, groups: GroupResolver | None = None
) -> RunOut:
    """Undo a finished run: the inverses of its changes, last first (a worker applies them)."""
    async with runtime.db.transaction() as session:
        incident, run = await service.lock_run(session, run_ref)
        assert incident.id is not None
        spec = RunbookSpec.model_validate(run.spec)
        roles = await approvals.roles_held(session, incident.id, actor)
        group_members = approvals.groups_for(runtime.settings, groups)
        refused: PermissionDeniedError | None = None
        try:
            await approvals.require_runner(actor, spec, runtime.settings, roles, group_members)
        except PermissionDeniedError as exc:
            refused = exc
        else:
            await service.request_undo(session, incident, run, actor)
        out = await snapshots.snapshot(session, run)
    if refused is not None:
        await _refused(runtime, actor, "undo", out.ref, incident.id, refused)
        raise refused
    return out


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
    approved_by = [a.approver for a in run.approvals if a.decision == "approved"]
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


async def can_approve(
    runtime: Runtime, run_ref: str, actor: Actor, *, groups: GroupResolver | None = None
) -> bool:
    """Whether ``actor`` may approve the run now (for showing an Approve button)."""
    async with runtime.db.session() as session:
        run = await service.get_run(session, run_ref)
        if run.status != RunStatus.AWAITING_APPROVAL.value:
            return False
        if any(a.approver == actor.id for a in await snapshots.approvals_of(session, run.id or 0)):
            return False
        roles = await approvals.roles_held(session, run.incident_id, actor)
    why = await approvals.may_approve(actor, run, roles, approvals.groups_for(runtime.settings, groups))
    return why is None


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
