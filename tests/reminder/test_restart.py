"""Reminders across restarts (new runtimes on the same database), run by APScheduler in the app,
and delivered to the fake Slack Web API through the outbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlmodel import select

from bot.app import create_app
from bot.auth.actor import SYSTEM, Actor, Interface
from bot.chat.outbox import OutboxMessage
from bot.config import Settings
from bot.incident import flows, service
from bot.incident.domain import Role
from bot.reminder.jobs import ReminderScheduler
from bot.reminder.models import Reminder
from bot.runtime import Runtime
from tests.access import OPEN
from tests.chat.conftest import drained, eventually
from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, serve_fake_slack
from tests.reminder.conftest import FakeClock, PagingServer, declare, reminder_settings

ADA = Actor(id="U1", kind="person", interface=Interface.SLACK)


def _reminders_of(runtime: Runtime, clock: FakeClock) -> ReminderScheduler:
    (scheduler,) = [c for c in runtime.components if isinstance(c, ReminderScheduler)]
    scheduler.clock = clock
    return scheduler


@asynccontextmanager
async def _running(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    """A bot process: runtime + app lifespan (outbox worker and reminder scheduler started)."""
    runtime = Runtime.build(settings)
    _reminders_of(runtime, clock)
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        yield runtime


async def _count(runtime: Runtime, model: type[Reminder] | type[OutboxMessage]) -> int:
    async with runtime.db.session() as session:
        return len((await session.exec(select(model))).all())


async def _staffed_incident(runtime: Runtime, channel: str) -> str:
    ref = await declare(runtime.db)
    await flows.acknowledge(runtime.db, ref, ADA, authz=OPEN)
    await flows.assign_role(runtime.db, ref, Role.COMMANDER, "U1", ADA, authz=OPEN)
    async with runtime.db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await service.set_chat_channel(session, incident, channel, "inc-room", SYSTEM)
    return ref


async def test_timers_survive_restarts_without_loss_or_doubles(db_url: str, clock: FakeClock) -> None:
    settings = reminder_settings(db_url, reminder_check_s=3600)
    first = Runtime.build(settings)
    ref = await _staffed_incident(first, "CONSOLE-ROOM")
    clock.advance(minutes=30)
    assert [f.key for f in await _reminders_of(first, clock).check()] == [f"status_update:{ref[4:]}:1"]
    await first.db.dispose()

    # restarted at the same moment: the reminder that went out is not sent again
    second = Runtime.build(settings)
    assert await _reminders_of(second, clock).check() == []
    await second.db.dispose()

    # down for over three intervals: the missed reminder comes once when the bot is back
    clock.advance(minutes=95)
    async with _running(settings, clock) as third:
        await eventually(lambda: third.chat.metrics.reminders.labels("status_update")._value.get() == 1, 5)
        # Only the reminder messages: the room (console adapter) also writes to the outbox.
        rows = [r for r in await drained(third.db) if (r.dedupe_key or "").startswith("reminder:")]
        assert await _count(third, Reminder) == 2
        events = [e for e in await flows.get_timeline(third.db, ref) if e.kind == "reminder_sent"]
    assert [(r.payload["channel"], r.status) for r in rows] == [("CONSOLE-ROOM", "sent")] * 2
    assert [r.dedupe_key for r in rows] == [f"reminder:status_update:{ref[4:]}:{n}" for n in (1, 2)]
    assert len(events) == 2


async def test_the_scheduler_checks_after_incident_changes(db_url: str, clock: FakeClock) -> None:
    settings = reminder_settings(db_url, reminder_check_s=3600, escalate_unacknowledged_after_min=0)
    async with _running(settings, clock) as runtime:
        ref = await declare(runtime.db)
        clock.advance(minutes=11)
        started = time.monotonic()
        # any change of any incident wakes the scheduler up (no waiting for the hourly check)
        await flows.add_note(runtime.db, ref, "looking at the feature store", ADA, authz=runtime.authz)
        await eventually(
            lambda: runtime.chat.metrics.reminders.labels("commander_nudge")._value.get() == 1, 5
        )
        assert time.monotonic() - started < 4
        async with runtime.db.session() as session:
            (row,) = (await session.exec(select(Reminder))).all()
        assert row.key == f"commander_nudge:{ref[4:]}"


async def test_escalation_reaches_slack_and_the_pager(
    db_url: str, clock: FakeClock, paging: PagingServer
) -> None:
    fake = FakeSlack()
    fake.add_user("U1", "ada")
    fake.add_usergroup("S0ONCALL", "ml-oncall", ["U1"])
    room, broadcast = fake.add_channel("inc-1-latency"), fake.add_channel("incidents")
    with serve_fake_slack(fake) as server:
        settings = reminder_settings(
            db_url,
            bot_token=DEFAULT_TOKEN,
            api_url=server.api_url,
            broadcast_channel=broadcast,
            no_commander_after_min=0,
            reminder_check_s=3600,
            paging_webhook_url=paging.url,
            outbox={"per_channel_interval_s": 0, "poll_interval_s": 0.1},
        )
        async with _running(settings, clock) as runtime:
            assert runtime.chat.configured
            ref = await declare(runtime.db)
            async with runtime.db.transaction() as session:
                incident = await service.get_incident(session, ref, for_update=True)
                await service.set_chat_channel(session, incident, room, "inc-1-latency", SYSTEM)
            clock.advance(minutes=15)
            fired = await _reminders_of(runtime, clock).check()
            assert [f.key for f in fired] == [f"escalation:{ref[4:]}"]
            rows = await drained(runtime.db)
        # The room opens in the linked channel too (card, pin...); look at the escalation only.
        assert fake.calls_to("usergroups.list")
        escalations = [
            c.args.get("channel")
            for c in fake.calls_to("chat.postMessage")
            if "still unacknowledged" in str(c.args.get("text"))
        ]
        assert sorted(escalations) == sorted([room, broadcast])
        (text,) = [t for t in fake.texts(room) if "still unacknowledged" in t]
        assert text.startswith(f"<!subteam^S0ONCALL> :rotating_light: {ref} (SEV2) is still unacknowledged")
        assert [t for t in fake.texts(broadcast) if "still unacknowledged" in t] == [text]
        assert [b["incident"] for b in paging.received] == [ref]
    assert all(DEFAULT_TOKEN not in str(r.model_dump()) for r in rows)
