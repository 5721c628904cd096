"""Dry-runs and the targets a run will lock, computed before anything changes.

A dry-run renders every step and calls its action's ``plan`` (read-only). Later steps see the
planned state of earlier ones (``steps.<id>.after`` is what the earlier step intends, and the
action context's ``planned`` holds it by target, so a check plans against the state it will
find), so a whole runbook can be previewed. A step that cannot be planned reports its error; the others are
planned all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bot.errors import IncidentBotError
from bot.runbook import calls
from bot.runbook.context import template_context
from bot.runbook.models import RunbookSpec
from bot.runbook.schemas import PlannedStepOut
from bot.runbook.templating import Templates, Where
from integrations.base import ActionContext, ActionRegistry

log = logging.getLogger(__name__)


async def dry_run(
    spec: RunbookSpec,
    actions: ActionRegistry,
    templates: Templates,
    *,
    inputs: Mapping[str, Any],
    incident: Mapping[str, Any],
    run: Mapping[str, Any],
    secrets: tuple[str, ...],
    actor: str,
    plan_timeout: float,
) -> list[PlannedStepOut]:
    steps: dict[str, dict[str, Any]] = {}
    intended: dict[str, dict[str, Any]] = {}
    planned = []
    for step in spec.steps:
        context = template_context(dict(inputs), dict(incident), dict(run), steps)
        where = Where(spec.name, step.id, "with")
        call: calls.Call | None = None
        try:
            call = calls.render(templates, actions, step.action, step.with_, context, where, secrets)
            ctx = ActionContext(
                incident_ref=incident.get("ref"),
                run_ref=run.get("ref"),
                step_id=step.id,
                actor=actor,
                dry_run=True,
                requested_by=actor,
                planned=dict(intended),
            )
            plan, _ = calls.mask_plan(
                await asyncio.wait_for(call.action.plan(call.params, ctx), step.timeout or plan_timeout),
                secrets,
            )
        except Exception as exc:
            if not isinstance(exc, IncidentBotError | TimeoutError):
                log.error("dry-run of %s step %s: plan raised", spec.name, step.id, exc_info=exc)
            limit = step.timeout or plan_timeout
            planned.append(
                _failed(step.id, step.title, step.action, call, calls.describe(exc, secrets, timeout=limit))
            )
            steps[step.id] = {"status": "error", "target": call.target if call else None}
            continue
        planned.append(
            PlannedStepOut(
                step=step.id,
                title=step.title,
                action=step.action,
                target=plan.target,
                mutating=call.mutating,
                params=call.shown,
                summary=plan.summary,
                current=plan.current,
                intended=plan.intended,
                changes=plan.changes,
                error=None,
                details=plan.details or None,
            )
        )
        if call.mutating and plan.changes:
            intended[plan.target] = plan.intended
        steps[step.id] = {
            "status": "planned",
            "target": plan.target,
            "before": plan.current,
            "after": plan.intended,
            "summary": plan.summary,
        }
    return planned


def _failed(step: str, title: str | None, action: str, call: calls.Call | None, error: str) -> PlannedStepOut:
    return PlannedStepOut(
        step=step,
        title=title,
        action=action,
        target=call.target if call else None,
        mutating=call.mutating if call else True,
        params=call.shown if call else None,
        summary=None,
        current=None,
        intended=None,
        changes=None,
        error=error,
    )


def lock_targets(
    spec: RunbookSpec,
    actions: ActionRegistry,
    templates: Templates,
    *,
    inputs: Mapping[str, Any],
    incident: Mapping[str, Any],
    run: Mapping[str, Any],
    secrets: tuple[str, ...],
) -> list[str]:
    """Targets of the changing steps whose parameters do not depend on earlier steps' results
    (those are locked when they start). Render errors surface here, before the run exists."""
    targets: list[str] = []
    context = template_context(dict(inputs), dict(incident), dict(run), {})
    for step in spec.steps:
        found = templates.check(step.with_, Where(spec.name, step.id, "with"))
        refs = {ref.root for _, ref in found if not isinstance(ref, str)}
        if "steps" in refs:
            continue
        call = calls.render(
            templates, actions, step.action, step.with_, context, Where(spec.name, step.id, "with"), secrets
        )
        if call.mutating:
            targets.extend(call.locks)
    return targets
