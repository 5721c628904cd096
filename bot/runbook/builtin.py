"""Actions that belong to the runbook engine itself rather than to an integration: ``wait``."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from bot.runbook.durations import PositiveDuration, format_duration
from integrations.base import (
    ActionContext,
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Plan,
)

WAIT = "wait"


class WaitParams(ActionParams):
    #: How long to wait: seconds, or 30s, 5m... (at most a day).
    duration: PositiveDuration = Field(le=24 * 3600)
    #: Why, for people reading the run (e.g. "let the new version take traffic").
    reason: str = ""


class WaitAction(BaseAction[WaitParams]):
    """Pause the run, e.g. to let traffic settle before a check. Changes nothing, locks nothing."""

    name = WAIT
    description = "Wait for a while before the next step (e.g. let traffic settle)."
    params_model = WaitParams
    mutating = False
    #: A wait interrupted halfway waits its whole duration again when the run resumes.
    kind = ActionKind.OBSERVATION

    def target(self, params: WaitParams) -> str:
        return "wait"

    def _summary(self, params: WaitParams, done: bool) -> str:
        verb = "waited" if done else "wait"
        return f"{verb} {format_duration(params.duration)}" + (f": {params.reason}" if params.reason else "")

    async def plan(self, params: WaitParams, ctx: ActionContext) -> Plan:
        return Plan(
            target=self.target(params),
            current={},
            intended={"waited_s": params.duration},
            summary=self._summary(params, done=False),
        )

    async def apply(self, params: WaitParams, ctx: ActionContext) -> ActionResult:
        await asyncio.sleep(params.duration)
        return ActionResult(
            target=self.target(params),
            before={},
            after={"waited_s": params.duration},
            summary=self._summary(params, done=True),
        )

    def inverse(self, params: WaitParams, before: dict[str, Any]) -> None:
        return None


def register_builtin_actions(registry: ActionRegistry) -> None:
    """Register the engine's own actions (skipping those a registry already has)."""
    if WAIT not in registry:
        registry.register(WaitAction())
