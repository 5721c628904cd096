"""One action call of a run, with its retries: the attempt loop shared by steps and undos.

Each attempt plans first. A change whose outcome is unknown (a process died after committing it
as running, an apply that timed out, an undo) is applied only when the plan says the target is
not reached yet. An observation (a wait, a metric held for a window) is never "already in
place": interrupted, it is observed again from the start, and the timeline says so. Plans and
results are recorded with secrets masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import AlreadyRunningError, IncidentBotError, RetryableIntegrationError
from bot.incident.models import Incident
from bot.runbook import calls, locks, mitigation, progress
from bot.runbook.execution import Execution
from bot.runbook.models import StepSpec, retry_policy
from bot.runbook.settings import RunbookSettings
from bot.runbook.states import Phase, StepStatus
from bot.runbook.tables import RunbookRun, RunbookStep
from integrations.base import ActionContext, ActionKind, ActionResult, Plan

log = logging.getLogger(__name__)

Change = Callable[[AsyncSession, Incident, RunbookRun, RunbookStep], Awaitable[None]]
Transaction = AbstractAsyncContextManager[tuple[AsyncSession, Incident, RunbookRun]]


class StepInterruptedError(Exception):
    """The run was cancelled while a step that changes nothing was waiting."""


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Committer(Protocol):
    """What the attempt loop needs from the engine: fenced transactions on the run."""

    settings: RunbookSettings

    def transaction(self, state: Execution) -> Transaction: ...

    async def commit(self, state: Execution, row: RunbookStep, change: Change) -> None: ...


class Attempts:
    def __init__(self, engine: Committer) -> None:
        self.engine = engine

    async def run_call(
        self,
        state: Execution,
        row: RunbookStep,
        call: calls.Call,
        step: StepSpec,
        step_ref: str,
        *,
        interruptible: bool,
    ) -> Outcome:
        """Execute ``call`` for the step run ``row``: lock its target if it changes something,
        then attempt it until it succeeds, fails for good, or the run is cancelled (only when
        ``interruptible``: a call that changes nothing may be stopped halfway)."""
        policy = retry_policy(step, self.engine.settings.default_retries)
        timeout = step.timeout or self.engine.settings.default_timeout
        if call.mutating:
            try:
                async with self.engine.transaction(state) as (session, _incident, _run):
                    await locks.acquire(session, state.run_id, call.locks)
            except AlreadyRunningError as exc:
                await self.engine.commit(state, state.find(row), failed(str(exc)))
                return Outcome.FAILED
        undo = row.phase == Phase.UNDO.value
        ctx = ActionContext(
            incident_ref=state.incident_ref,
            run_ref=state.ref,
            step_id=step_ref,
            actor=(state.undo_requested_by or state.requested_by) if undo else state.requested_by,
            requested_by=state.requested_by,
            approved_by=state.approved_by,
        )
        observation = call.action.kind == ActionKind.OBSERVATION
        mitigating = step.mitigates and not undo
        # Running already: a process died after committing it, so apply may have happened.
        # An undo is never applied to a resource that is already back where it was.
        interrupted = state.find(row).status == StepStatus.RUNNING
        unknown = interrupted or undo
        attempt = 0
        while True:
            attempt += 1
            failure: BaseException
            try:
                plan = await self.timed(call.action.plan(call.params, ctx), timeout, state, interruptible)
            except StepInterruptedError:
                return await self._interrupted(state, row)
            except Exception as exc:
                failure = exc
            else:
                shown_plan, plan_masked = calls.mask_plan(plan, state.secrets)
                if unknown and not plan.changes and not observation:
                    planned = state.find(row).planned or {}
                    before = planned.get("current", shown_plan.current)
                    result = ActionResult(
                        plan.target, before, shown_plan.current, shown_plan.summary, shown_plan.details
                    )
                    masked = bool(planned.get("masked")) or plan_masked
                    await self.engine.commit(
                        state, row, succeeded(result, masked, recovered=True, mitigating=mitigating)
                    )
                    return Outcome.SUCCEEDED
                restarted = observation and interrupted and attempt == 1
                await self.engine.commit(state, row, started(call, shown_plan, plan_masked, restarted))
                unknown = True
                try:
                    applied = await self.timed(
                        call.action.apply(call.params, ctx),
                        timeout,
                        state,
                        interruptible and not call.mutating,
                    )
                except StepInterruptedError:
                    return await self._interrupted(state, row)
                except Exception as exc:
                    failure = exc
                else:
                    shown, masked = calls.mask_result(applied, state.secrets)
                    await self.engine.commit(state, row, succeeded(shown, masked, mitigating=mitigating))
                    return Outcome.SUCCEEDED
            if not isinstance(failure, IncidentBotError | TimeoutError):
                log.error("%s: action %s raised", state.ref, call.action.name, exc_info=failure)
            error = calls.describe(failure, state.secrets, timeout=timeout)
            if isinstance(failure, RetryableIntegrationError | TimeoutError) and attempt <= policy.max:
                delay = policy.delay(attempt)
                await self.engine.commit(state, row, retrying(error, attempt, delay))
                if interruptible and await _cancelled_during(state, delay):
                    return await self._interrupted(state, row)
                continue
            await self.engine.commit(state, row, failed(error, mitigating=mitigating))
            return Outcome.FAILED

    async def _interrupted(self, state: Execution, row: RunbookStep) -> Outcome:
        await self.engine.commit(state, row, failed(f"cancelled by {state.cancelled_by or 'someone'}"))
        return Outcome.CANCELLED

    async def timed(self, coro: Awaitable[Any], limit: float, state: Execution, interruptible: bool) -> Any:
        """Await ``coro`` for at most ``limit`` seconds; stop early on cancel if allowed."""
        task = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(state.cancel.wait()) if interruptible else None
        try:
            done, _ = await asyncio.wait(
                [t for t in (task, stop) if t is not None],
                timeout=limit,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if task in done:
                return task.result()
            if stop is not None and stop in done:
                raise StepInterruptedError
            raise TimeoutError
        finally:
            for pending in (task, stop):
                if pending is not None and not pending.done():
                    pending.cancel()
            await asyncio.gather(*(t for t in (task, stop) if t is not None), return_exceptions=True)


async def _cancelled_during(state: Execution, delay: float) -> bool:
    try:
        await asyncio.wait_for(state.cancel.wait(), delay)
    except TimeoutError:
        return False
    return True


def started(call: calls.Call, plan: Plan, masked: bool, restarted: bool = False) -> Change:
    async def change(session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep) -> None:
        await progress.step_started(
            session, incident, run, row, call, plan, masked=masked, restarted=restarted
        )

    return change


def succeeded(
    result: ActionResult, masked: bool, *, recovered: bool = False, mitigating: bool = False
) -> Change:
    """``mitigating``: the step is declared to mitigate the incident (``mitigates: true``)."""

    async def change(session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep) -> None:
        await progress.step_succeeded(session, incident, run, row, result, masked=masked, recovered=recovered)
        if mitigating:
            await mitigation.verified(session, incident, run, row, result.summary)

    return change


def retrying(error: str, attempt: int, delay: float) -> Change:
    async def change(session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep) -> None:
        await progress.step_retrying(session, incident, run, row, error, attempt, delay)

    return change


def failed(error: str, *, mitigating: bool = False) -> Change:
    """``mitigating``: a verification that ran and did not hold (not a cancel)."""

    async def change(session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep) -> None:
        await progress.step_failed(session, incident, run, row, error)
        if mitigating:
            await mitigation.not_verified(session, incident, run, row, error)

    return change


def skipped(why: str) -> Change:
    async def change(session: AsyncSession, incident: Incident, run: RunbookRun, row: RunbookStep) -> None:
        await progress.step_skipped(session, incident, run, row, why)

    return change
