"""The reminder scheduler: APScheduler's ``AsyncIOScheduler`` running jobs that only call flows.

Jobs hold no timer state of their own: every check re-derives what is due from the
database (incident milestones, roles, timeline, fired ``reminder`` rows), so a restart
resumes exactly where the last process stopped. Two jobs:

- ``reminders.check`` every ``slack.reminder_check_s`` (and once at start-up, catching up
  whatever came due while the bot was down);
- ``reminders.next`` at the earliest upcoming due time, re-planned after each check and
  soon after any incident change (a wake-up from the event bus).

``clock`` is injectable: tests move time forward and call ``check()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.chat.metrics import ChatMetrics
from bot.chat.runtime import ChatGroups
from bot.config import Settings
from bot.db import Database, utcnow
from bot.errors import IncidentBotError
from bot.events import Event, IncidentChanged
from bot.reminder import flows
from bot.reminder.models import PageStatus
from bot.reminder.paging import PagingWebhook
from bot.reminder.policy import due_now, next_due_at

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

#: Seconds between an incident change and the re-check it triggers (changes come in bursts).
_SETTLE_S = 1.0


class ReminderScheduler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        groups: ChatGroups,
        metrics: ChatMetrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        paging: PagingWebhook | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.groups = groups
        self.metrics = metrics
        self.clock = clock
        slack = settings.slack
        self.paging = paging or (
            PagingWebhook(
                slack.paging_webhook_url,
                secret=slack.paging_webhook_secret,
                header=slack.paging_webhook_header,
            )
            if slack.paging_webhook_url
            else None
        )
        self._scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self._stopped = False

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> ReminderScheduler:
        scheduler = cls(runtime.db, runtime.settings, runtime.chat.groups, runtime.chat.metrics)
        runtime.bus.subscribe(scheduler.on_event)
        return scheduler

    async def start(self) -> None:
        self._stopped = False
        scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True}
        )
        scheduler.add_job(
            self.check,
            "interval",
            seconds=self.settings.slack.reminder_check_s,
            id="reminders.check",
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        self._stopped = True  # a job that starts from now on does nothing
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        async with self._lock:  # let a running check finish its transaction
            pass
        if self.paging is not None:
            await self.paging.aclose()

    def on_event(self, event: Event) -> None:
        """Bus subscriber: an incident changed, its timers may have moved."""
        if isinstance(event, IncidentChanged):
            self._plan(datetime.now(UTC) + timedelta(seconds=_SETTLE_S))

    def _plan(self, run_at: datetime) -> None:
        """Schedule the one-shot ``reminders.next`` job, in real (scheduler) time. An earlier
        planned check is kept: it re-plans when it runs, with fresher data."""
        if self._scheduler is None or not self._scheduler.running:
            return
        planned = self._scheduler.get_job("reminders.next")
        if planned is not None and planned.next_run_time is not None and planned.next_run_time <= run_at:
            return
        self._scheduler.add_job(
            self.check, "date", run_date=run_at, id="reminders.next", replace_existing=True, max_instances=1
        )

    async def check(self) -> list[flows.Fired]:
        """Fire what is due now, call pending paging webhooks, plan the next check."""
        async with self._lock:
            if self._stopped:
                return []
            try:
                return await self._check()
            except IncidentBotError as exc:
                log.error("reminder check failed: %s", exc)
                return []

    async def _check(self) -> list[flows.Fired]:
        now = self.clock()
        slack = self.settings.slack
        states = await flows.load_states(self.db)
        fired: list[flows.Fired] = []
        due = [state for state in states if due_now(state, slack, now)]
        if due:
            oncall = await self.groups.mention(slack.oncall_group) if slack.oncall_group else None
            for state in due:
                fired += await flows.fire_due(self.db, state.incident_id, now, self.settings, oncall)
            states = await flows.load_states(self.db)
        for item in fired:
            self.metrics.reminders.labels(item.kind.value).inc()
            log.info("reminder %s fired for %s", item.key, item.incident)
        await self._page(now)
        upcoming = [
            t for t in (next_due_at(states, slack, now), await flows.next_page_at(self.db)) if t is not None
        ]
        if upcoming:
            delay = max(0.0, (min(upcoming) - now).total_seconds())
            if delay < slack.reminder_check_s:
                self._plan(datetime.now(UTC) + timedelta(seconds=delay))
        return fired

    async def _page(self, now: datetime) -> None:
        if self.paging is None:
            return
        for reminder in await flows.pages_due(self.db, now):
            assert reminder.id is not None
            error = None
            try:
                await self.paging.page(reminder.page_body or {})
            except IncidentBotError as exc:
                error = str(exc)
                log.warning("paging webhook for %s failed: %s", reminder.key, error)
            outcome = await flows.record_page(self.db, reminder.id, now, error)
            if outcome in (PageStatus.FAILED, PageStatus.GAVE_UP):
                self.metrics.paging_failures.labels(str(outcome == PageStatus.GAVE_UP).lower()).inc()
