"""Turn a step (or an undo) into an action call: render ``with:``, find the action, parse its
parameters, name its target. Every error names the runbook, the step and the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.errors import IncidentBotError, InputError
from bot.redact import redact
from bot.runbook.templating import Templates, Where
from integrations.base import Action, ActionRegistry, ActionResult, Plan


@dataclass(frozen=True)
class Call:
    action: Action[Any]
    params: BaseModel
    target: str
    #: The rendered parameters as stored and shown: secrets redacted.
    shown: dict[str, Any]
    #: What the engine locks while the call runs (the target, or several resources).
    locks: tuple[str, ...] = ()

    @property
    def mutating(self) -> bool:
        return bool(self.action.mutating)


def prepare(
    actions: ActionRegistry,
    name: str,
    raw: Mapping[str, Any],
    where: Where,
    secrets: tuple[str, ...] = (),
) -> Call:
    """The call of action ``name`` with already rendered parameters ``raw``."""
    if name not in actions:
        raise InputError(
            f"{where.describe()}: unknown action {name!r}",
            hint=f"registered actions: {', '.join(actions.names()) or 'none'}",
            step=where.step,
        )
    action = actions.get(name)
    try:
        params = action.params_model.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(all)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InputError(
            f"{where.describe()}: invalid parameters for {name}: {redact(problems, secrets)}",
            step=where.step,
            field=where.field,
        ) from None
    return Call(
        action, params, action.target(params), redact(dict(raw), secrets), tuple(action.lock_targets(params))
    )


def render(
    templates: Templates,
    actions: ActionRegistry,
    name: str,
    with_: Mapping[str, Any],
    context: Mapping[str, Any],
    where: Where,
    secrets: tuple[str, ...] = (),
) -> Call:
    raw = templates.render(dict(with_), context, where)
    return prepare(actions, name, raw, where, secrets)


def describe(exc: BaseException, secrets: tuple[str, ...] = (), *, timeout: float | None = None) -> str:
    """A one-line account of a failure for the run's record (secrets masked)."""
    if isinstance(exc, TimeoutError):
        text = f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    elif isinstance(exc, IncidentBotError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    masked: str = redact(text, secrets)
    return masked


def mask_plan(plan: Plan, secrets: tuple[str, ...]) -> tuple[Plan, bool]:
    """The plan as stored (secrets redacted), and whether its current state had any."""
    current = redact(plan.current, secrets)
    shown = replace(
        plan,
        current=current,
        intended=redact(plan.intended, secrets),
        summary=redact(plan.summary, secrets),
        details=redact(plan.details, secrets),
    )
    return shown, current != plan.current


def mask_result(result: ActionResult, secrets: tuple[str, ...]) -> tuple[ActionResult, bool]:
    """The result as stored (secrets redacted), and whether its before state had any."""
    before = redact(result.before, secrets)
    shown = replace(
        result,
        before=before,
        after=redact(result.after, secrets),
        summary=redact(result.summary, secrets),
        details=redact(result.details, secrets),
    )
    return shown, before != result.before
