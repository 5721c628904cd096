"""Execute runs step by step, durably.

A worker *claims* a run (a lease on the row, renewed while it works), then for each step:

1. renders the parameters and, for a changing action, takes the lock of its target;
2. plans (read-only) and commits the step as ``running`` with the plan: from here the outcome is
   unknown until
3. apply returns and the step is committed ``succeeded`` with its before/after (or failed).

Retryable failures (timeouts, unavailable systems) are retried with backoff; each retry and
every resumed step re-plans first and a change is applied again only when the target is not
reached yet; an observation (a wait, a metric check) always runs again in full.
A worker that dies leaves its lease to run out; another worker then resumes the run the same
way, so no succeeded step is ever applied twice. Undo applies the inverses of the steps that
changed something, last first (an action that follows earlier steps, such as a serving layer
reloading what an alias points to, is undone after them), with the same machinery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database, utcnow
from bot.errors import IncidentBotError
from bot.incident import service as incident_service
from bot.incident.models import Incident
from bot.runbook import calls, mitigation, progress
from bot.runbook.attempts import Attempts, Change, Outcome, failed, skipped
from bot.runbook.execution import Execution, load_execution
from bot.runbook.kinds import Kind
from bot.runbook.models import OnFailure, StepSpec
from bot.runbook.settings import RunbookSettings
from bot.runbook.states import WORKABLE, RunStatus, StepStatus
from bot.runbook.tables import RunbookRun, RunbookStep
from bot.runbook.templating import Templates, Where
from bot.runbook.undo import plan_undo
from integrations.base import ActionRegistry

log = logging.getLogger(__name__)


class LostClaimError(Exception):
    """Another worker owns the run now (this one's lease ran out): stop touching it."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Engine:
    def __init__(
        self,
        db: Database,
        actions: ActionRegistry,
        settings: RunbookSettings,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.actions = actions
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.templates = Templates()
        self.attempts = Attempts(self)

    # -- claiming ---------------------------------------------------------------------------

    async def claimable(self, limit: int) -> list[int]:
        """Runs to execute: ready ones, and interrupted ones whose owner's lease ran out."""
        now = utcnow()
        async with self.db.session() as session:
            rows = await session.exec(
                select(RunbookRun.id)
                .where(col(RunbookRun.status).in_([s.value for s in WORKABLE]))
                .where((col(RunbookRun.worker).is_(None)) | (col(RunbookRun.lease_expires_at) < now))
                .order_by(col(RunbookRun.id))
                .limit(limit)
            )
            return [i for i in rows.all() if i is not None]

    async def claim(self, run_id: int) -> bool:
        async with self.db.transaction() as session:
            run = (
                await session.exec(select(RunbookRun).where(RunbookRun.id == run_id).with_for_update())
            ).first()
            now = utcnow()
            if run is None or RunStatus(run.status) not in WORKABLE:
                return False
            owned = run.worker not in (None, self.worker_id)
            if owned and run.lease_expires_at is not None and run.lease_expires_at > now:
                return False
            run.worker = self.worker_id
            run.lease_expires_at = now + timedelta(seconds=self.settings.lease)
            session.add(run)
            return True

    async def release(self, run_id: int) -> None:
        """Give the lease up now (shutting down): another worker may resume at once."""
        async with self.db.transaction() as session:
            run = await session.get(RunbookRun, run_id, with_for_update=True)
            if run is not None and run.worker == self.worker_id:
                run.worker = None
                run.lease_expires_at = None
                session.add(run)

    async def run(self, run_id: int) -> RunStatus | None:
        """Claim and execute ``run_id``; None when another worker has it."""
        if not await self.claim(run_id):
            return None
        return await self.execute(run_id)

    # -- executing --------------------------------------------------------------------------

    async def execute(self, run_id: int) -> RunStatus | None:
        """Execute a claimed run until it finishes; None when the claim was lost."""
        async with self.db.transaction() as session:
            state = await load_execution(session, run_id, self.worker_id)
        if state is None:
            return None
        heartbeat = asyncio.create_task(self._heartbeat(state), name=f"heartbeat {state.ref}")
        try:
            if state.status == RunStatus.RUNNING:
                await self._forward(state)
            if state.status == RunStatus.UNDOING:
                await self._undo(state)
            return state.status
        except LostClaimError:
            log.warning("%s: another worker took the run over; this one stops", state.ref)
            return None
        except asyncio.CancelledError:
            await asyncio.shield(self._release_quietly(run_id))
            raise
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _release_quietly(self, run_id: int) -> None:
        try:
            await self.release(run_id)
        except Exception:
            log.warning("could not release the lease of run %s; it runs out by itself", run_id)

    async def _heartbeat(self, state: Execution) -> None:
        interval = self.settings.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.transaction() as session:
                    run = await session.get(RunbookRun, state.run_id, with_for_update=True)
                    if run is None or run.worker != self.worker_id:
                        state.lost.set()
                        return
                    run.lease_expires_at = utcnow() + timedelta(seconds=self.settings.lease)
                    session.add(run)
                    if run.cancel_requested_by:
                        state.cancel.set()
            except Exception:
                log.warning("%s: lease renewal failed; trying again", state.ref, exc_info=True)

    @asynccontextmanager
    async def transaction(self, state: Execution) -> AsyncIterator[tuple[AsyncSession, Incident, RunbookRun]]:
        """A transaction on the run, fenced: it fails if another worker owns the run now."""
        async with self.db.transaction() as session:
            incident = await incident_service.get_incident(session, state.incident_id, for_update=True)
            run = await session.get(RunbookRun, state.run_id, with_for_update=True)
            if run is None or run.worker != self.worker_id:
                raise LostClaimError(state.ref)
            run.lease_expires_at = utcnow() + timedelta(seconds=self.settings.lease)
            run.updated_at = utcnow()
            session.add(run)
            if run.cancel_requested_by:
                state.cancel.set()
                state.cancelled_by = run.cancel_requested_by
            yield session, incident, run

    async def commit(self, state: Execution, row: RunbookStep, change: Change) -> None:
        async with self.transaction(state) as (session, incident, run):
            fresh = await session.get(RunbookStep, row.id)
            assert fresh is not None
            await change(session, incident, run, fresh)
        state.replace(fresh)

    async def _finish(self, state: Execution, status: RunStatus, kind: Kind, text: str, **data: Any) -> None:
        async with self.transaction(state) as (session, incident, run):
            await progress.finish(session, incident, run, status, kind, text, **data)
            if status == RunStatus.UNDONE:
                await mitigation.after_undo(session, incident, run, list(state.rows.values()))
        state.status = status

    # -- forward ----------------------------------------------------------------------------

    async def _forward(self, state: Execution) -> None:
        spec = state.spec
        for position, step in enumerate(spec.steps):
            row = state.rows[position]
            if row.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED):
                continue
            if state.cancel.is_set():
                await self._cancelled(state)
                return
            outcome = await self._step(state, position, step)
            if outcome == Outcome.CANCELLED:
                await self._cancelled(state)
                return
            if outcome == Outcome.SUCCEEDED or step.on_failure == OnFailure.CONTINUE:
                continue
            error = state.rows[position].error
            if step.on_failure == OnFailure.UNDO:
                await self._fail_and_undo(state, step, error)
            else:
                await self._finish(
                    state,
                    RunStatus.FAILED,
                    Kind.FAILED,
                    f"{state.ref} failed at step {step.id}: {error}",
                    error=f"step {step.id}: {error}",
                    step=step.id,
                )
            return
        failed = [r.step_id for r in state.rows.values() if r.status == StepStatus.FAILED]
        note = f" ({len(failed)} step(s) failed and were passed over: {', '.join(failed)})" if failed else ""
        await self._finish(
            state,
            RunStatus.SUCCEEDED,
            Kind.SUCCEEDED,
            f"{state.ref} succeeded: {spec.title}{note}",
            failed_steps=failed or None,
        )

    async def _step(self, state: Execution, position: int, step: StepSpec) -> Outcome:
        row = state.rows[position]
        where = Where(state.runbook, step.id, "with")
        try:
            call = calls.render(
                self.templates,
                self.actions,
                step.action,
                step.with_,
                state.context(position),
                where,
                state.secrets,
            )
        except IncidentBotError as exc:
            await self.commit(state, row, failed(calls.describe(exc, state.secrets)))
            return Outcome.FAILED
        return await self.attempts.run_call(state, row, call, step, step.id, interruptible=True)

    async def _cancelled(self, state: Execution) -> None:
        who = state.cancelled_by or "someone"
        await self._finish(
            state,
            RunStatus.CANCELLED,
            Kind.CANCELLED,
            f"{state.ref} cancelled by {who}",
            end_reason="cancelled",
            ended_by=who,
        )

    async def _fail_and_undo(self, state: Execution, step: StepSpec, error: str | None) -> None:
        async with self.transaction(state) as (session, incident, run):
            run.error = f"step {step.id}: {error}"
            run.status = RunStatus.UNDOING.value
            session.add(run)
            undo_rows = await plan_undo(session, run)
            await progress.record(
                session,
                incident,
                run,
                Kind.FAILED,
                f"{state.ref} failed at step {step.id}: {error}; undoing {len(undo_rows)} step(s)",
                status=RunStatus.UNDOING.value,
                error=run.error,
                step=step.id,
            )
            await progress.record(
                session,
                incident,
                run,
                Kind.UNDO_STARTED,
                f"{state.ref}: undoing {', '.join(r.step_id for r in undo_rows) or 'nothing'}"
                " (on_failure: undo)",
                steps=[r.step_id for r in undo_rows],
            )
        state.status = RunStatus.UNDOING
        for row in undo_rows:
            state.replace(row)

    # -- one action call, with retries ------------------------------------------------------

    # -- undo -------------------------------------------------------------------------------

    def _undone_last(self, state: Execution, row: RunbookStep) -> bool:
        """The step's action follows what earlier steps set: its inverse runs after theirs."""
        name = state.rows[row.position].action
        return name in self.actions and bool(self.actions.get(name).undo_last)

    async def _undo(self, state: Execution) -> None:
        todo = sorted(
            (
                r
                for r in state.undo_rows.values()
                if r.status not in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            ),
            key=lambda r: (self._undone_last(state, r), -r.position),
        )
        for row in todo:
            outcome = await self._undo_step(state, row)
            if outcome == Outcome.FAILED:
                error = state.find(row).error
                left = [r.step_id for r in todo if state.find(r).status != StepStatus.SUCCEEDED]
                await self._finish(
                    state,
                    RunStatus.FAILED,
                    Kind.UNDO_FAILED,
                    f"{state.ref}: undo stopped at step {row.step_id}: {error}",
                    error=f"undo of step {row.step_id}: {error}",
                    step=row.step_id,
                    not_undone=left,
                )
                return
        undone = [r.step_id for r in state.undo_rows.values() if r.status == StepStatus.SUCCEEDED]
        await self._finish(
            state,
            RunStatus.UNDONE,
            Kind.UNDONE,
            f"{state.ref} undone: {', '.join(undone) or 'nothing needed undoing'}",
            steps=undone,
        )

    async def _undo_step(self, state: Execution, row: RunbookStep) -> Outcome:
        step = state.spec.steps[row.position]
        done = state.rows[row.position]
        # A step that failed after apply may have changed things: undo back to what its plan saw.
        before = (
            done.before if done.status == StepStatus.SUCCEEDED else (done.planned or {}).get("current", {})
        )
        if (done.details or {}).get(progress.STATE_MASKED) or (done.planned or {}).get("masked"):
            error = (
                f"cannot undo step {step.id}: the state it found holds a secret input, which is "
                "recorded masked; restore it by hand"
            )
            await self.commit(state, row, failed(error))
            return Outcome.FAILED
        context = state.context(row.position)
        try:
            if step.undo is not None:
                context = {**context, "step": {**state.result(done), "before": before or {}}}
                where = Where(state.runbook, step.id, "undo.with")
                call = calls.render(
                    self.templates,
                    self.actions,
                    step.undo.action,
                    step.undo.with_,
                    context,
                    where,
                    state.secrets,
                )
            else:
                where = Where(state.runbook, step.id, "with")
                forward = calls.render(
                    self.templates, self.actions, step.action, step.with_, context, where, state.secrets
                )
                inverse = forward.action.inverse(forward.params, before or {})
                if inverse is None:
                    await self.commit(state, row, skipped(f"nothing to undo: {step.action} has no inverse"))
                    return Outcome.SKIPPED
                call = calls.prepare(
                    self.actions,
                    inverse.action,
                    inverse.params,
                    Where(state.runbook, step.id, "undo"),
                    state.secrets,
                )
        except IncidentBotError as exc:
            await self.commit(state, row, failed(calls.describe(exc, state.secrets)))
            return Outcome.FAILED
        return await self.attempts.run_call(state, row, call, step, f"{step.id}.undo", interruptible=False)


__all__ = ["Engine", "LostClaimError", "Outcome", "default_worker_id"]
