"""The background component that executes runs, and the auto-run trigger.

On start, and then every ``runbooks.poll_interval`` (or at once when a committed transaction
signals a run is ready), the worker expires overdue approval requests and claims workable
runs up to ``runbooks.max_concurrent_runs``: new ones, and interrupted ones whose owner's lease
ran out (crash recovery). Several replicas may run workers on one database: a run is claimed
by one of them at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.auth.actor import Actor
from bot.errors import ConflictError, IncidentBotError, NotFoundError
from bot.events import AutoRunRequested, Event
from bot.incident import service as incident_service
from bot.incident import timeline
from bot.incident.domain import format_ref
from bot.runbook import auto, flows, service
from bot.runbook.auto import rule_actor
from bot.runbook.engine import Engine
from bot.runbook.kinds import Kind
from bot.runbook.metrics import RunbookMetrics
from bot.runbook.signals import RunReady
from bot.runtime import Runtime

log = logging.getLogger(__name__)


class RunbookWorker:
    def __init__(self, runtime: Runtime, *, metrics: RunbookMetrics | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.runbooks
        self.engine = Engine(runtime.db, runtime.actions, self.settings)
        self.metrics = metrics
        self._running: dict[int, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    @property
    def worker_id(self) -> str:
        return self.engine.worker_id

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._poll(), name="runbook worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._running.values(), *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    def wake(self) -> None:
        self._wake.set()

    async def idle(self) -> None:
        """Wait until no run is executing here (tests, graceful hand-over)."""
        while self._running or self._background:
            await asyncio.gather(*self._running.values(), *self._background, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runbook worker: polling failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            self._wake.clear()

    async def tick(self) -> None:
        """Expire overdue approvals; claim and start workable runs while there is room."""
        for ref in await flows.expire_due(self.runtime):
            log.info("%s: approval request expired", ref)
        room = self.settings.max_concurrent_runs - len(self._running)
        if room <= 0:
            return
        for run_id in await self.engine.claimable(room + len(self._running)):
            if len(self._running) >= self.settings.max_concurrent_runs:
                break
            if run_id in self._running or not await self.engine.claim(run_id):
                continue
            self._running[run_id] = asyncio.create_task(self._execute(run_id), name=f"run {run_id}")

    async def _execute(self, run_id: int) -> None:
        if self.metrics is not None:
            self.metrics.executing.inc()
        try:
            await self.engine.execute(run_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "run %s: execution stopped on an error; the run resumes when its lease runs out", run_id
            )
        finally:
            if self.metrics is not None:
                self.metrics.executing.dec()
            self._running.pop(run_id, None)
            self.wake()

    # -- hooks ------------------------------------------------------------------------------

    def on_commit(self, items: list[object]) -> None:
        """Commit hook: count what happened, wake up for runs that became ready."""
        if self.metrics is not None:
            self.metrics.observe(items)
        if any(isinstance(item, RunReady) for item in items):
            self.wake()

    def on_event(self, event: Event) -> None:
        """Bus subscriber: a routing rule asks for a runbook on an incident."""
        if isinstance(event, AutoRunRequested):
            task = asyncio.get_running_loop().create_task(
                self.auto_run(event), name=f"auto-run {event.runbook}"
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def auto_run(self, event: AutoRunRequested) -> None:
        """Start the runbook (subject to its approval policy) once per incident and runbook."""
        ref = format_ref(event.incident_id)
        actor = rule_actor(event.rule)
        try:
            run = await auto.auto_run(
                self.runtime, ref, event.runbook, event.inputs, event.rule, reopened=event.reopened
            )
        except ConflictError as exc:
            if exc.context.get("reason") == service.AUTO_RUN_ONCE:  # two alerts raced: the other did
                log.info("%s: %s", ref, exc.message)
                return
            await self._refused(event, actor, exc)
        except IncidentBotError as exc:
            await self._refused(event, actor, exc)
        else:
            if run is not None:
                log.info("%s: routing rule %s started %s (%s)", ref, event.rule, run.ref, run.status.value)

    async def _refused(self, event: AutoRunRequested, actor: Actor, error: IncidentBotError) -> None:
        try:
            async with self.runtime.db.transaction() as session:
                incident = await incident_service.get_incident(session, event.incident_id, for_update=True)
                await timeline.record(
                    session,
                    incident,
                    kind=Kind.AUTO_RUN_REFUSED.value,
                    text=f"Routing rule {event.rule} could not start runbook {event.runbook}: {error}",
                    actor=actor,
                    data={"runbook": event.runbook, "rule": event.rule, "error": str(error)},
                    audit_action="runbook.auto_run_refused",
                )
        except NotFoundError:
            log.warning("auto-run of %s: incident %s does not exist", event.runbook, event.incident_id)
