"""Reminders, nudges and escalation on a controllable clock: outbox, timeline, reminder rows."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from bot.auth.actor import SYSTEM, Actor, Interface
from bot.chat.outbox import OutboxMessage
from bot.db import Database
from bot.incident import flows, service
from bot.incident.domain import Role, Severity
from bot.incident.schemas import TimelineEventOut
from bot.reminder.models import Reminder
from tests.access import OPEN
from tests.reminder.conftest import Factory, FakeClock, declare, reminder_settings

ADA = Actor(id="U1", kind="person", interface=Interface.SLACK, name="Ada")


async def _messages(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def _reminders(db: Database) -> list[Reminder]:
    async with db.session() as session:
        return list((await session.exec(select(Reminder).order_by(col(Reminder.id)))).all())


async def _events(db: Database, ref: str, *kinds: str) -> list[TimelineEventOut]:
    return [e for e in await flows.get_timeline(db, ref) if e.kind in kinds]


async def _set_channel(db: Database, ref: str, channel: str) -> None:
    async with db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await service.set_chat_channel(session, incident, channel, channel.lower(), SYSTEM)


async def test_status_update_reminders_to_the_commander(
    db: Database, db_url: str, clock: FakeClock, scheduler: Factory
) -> None:
    reminders = scheduler(reminder_settings(db_url))
    ref = await declare(db, Severity.SEV2)
    await _set_channel(db, ref, "CROOM")
    await flows.acknowledge(db, ref, ADA, authz=OPEN)
    await flows.assign_role(db, ref, Role.COMMANDER, "U1", ADA, authz=OPEN)
    clock.advance(minutes=29)
    assert await reminders.check() == []
    clock.advance(minutes=1)
    (fired,) = await reminders.check()
    assert (fired.key, fired.incident) == (f"status_update:{ref[4:]}:1", ref)
    assert await reminders.check() == []  # checked again at the same time: no double
    (message,) = await _messages(db)
    assert message.method == "chat.postMessage" and message.payload["channel"] == "CROOM"
    assert (
        message.payload["text"].startswith("<@U1> reminder: ")
        and "no status update for 30 min" in message.payload["text"]
    )
    assert message.lane == f"incident:{ref[4:]}" and message.dedupe_key == f"reminder:{fired.key}"
    (event,) = await _events(db, ref, "reminder_sent")
    assert (
        event.text == "Reminded U1 to post a status update (none for 30 min)"
        and event.actor == "incident-bot"
    )
    # a note by a person resets the timer
    clock.advance(minutes=20)
    await flows.add_note(db, ref, "rolled back the canary; error rate falling", ADA, authz=OPEN)
    clock.advance(minutes=29)
    assert await reminders.check() == []
    clock.advance(minutes=1)
    assert [f.key for f in await reminders.check()] == [f"status_update:{ref[4:]}:2"]
    assert len(await _reminders(db)) == 2 and len(await _messages(db)) == 2


async def test_interval_follows_severity(
    db: Database, db_url: str, clock: FakeClock, scheduler: Factory
) -> None:
    reminders = scheduler(reminder_settings(db_url))
    sev1, sev4 = await declare(db, Severity.SEV1), await declare(db, Severity.SEV4)
    for ref in (sev1, sev4):
        await flows.acknowledge(db, ref, ADA, authz=OPEN)
        await flows.assign_role(db, ref, Role.COMMANDER, "U1", ADA, authz=OPEN)
    clock.advance(minutes=15)
    assert [f.incident for f in await reminders.check()] == [sev1]
    clock.advance(minutes=600)
    assert [f.incident for f in await reminders.check()] == [sev1]  # SEV4: off


async def test_nudge_when_no_commander(
    db: Database, db_url: str, clock: FakeClock, scheduler: Factory
) -> None:
    reminders = scheduler(reminder_settings(db_url, escalate_unacknowledged_after_min=0))
    lonely, staffed = await declare(db), await declare(db)
    await flows.assign_role(db, staffed, Role.COMMANDER, "U2", ADA, authz=OPEN)
    clock.advance(minutes=9, seconds=59)
    assert await reminders.check() == []
    clock.advance(seconds=1)
    (fired,) = await reminders.check()
    assert (fired.kind.value, fired.incident) == ("commander_nudge", lonely)
    clock.advance(minutes=60)
    later = await reminders.check()  # the staffed incident's commander owes a status update
    assert [(f.kind.value, f.incident) for f in later] == [("status_update", staffed)]
    message = (await _messages(db))[0]
    assert message.payload["channel"] == "$incident_channel"  # the room is created by the chat layer
    assert message.payload["text"].startswith(f"@ml-oncall {lonely} has no incident commander 10 min after")
    (event,) = await _events(db, lonely, "commander_nudge")
    assert event.text == "No incident commander after 10 min; nudged the responders"


async def test_concurrent_checks_fire_once(
    db: Database, db_url: str, clock: FakeClock, scheduler: Factory
) -> None:
    settings = reminder_settings(db_url)
    ref = await declare(db)
    clock.advance(minutes=16)
    first, second = scheduler(settings), scheduler(settings)
    results = await asyncio.gather(first.check(), second.check())
    keys = sorted(f.key for result in results for f in result)
    assert keys == [f"commander_nudge:{ref[4:]}", f"escalation:{ref[4:]}"]
    assert len(await _reminders(db)) == 2 and len(await _messages(db)) == 2
    assert len(await _events(db, ref, "commander_nudge", "escalated")) == 2


async def test_closed_incidents_get_nothing(
    db: Database, db_url: str, clock: FakeClock, scheduler: Factory
) -> None:
    reminders = scheduler(reminder_settings(db_url))
    ref = await declare(db)
    await flows.assign_role(db, ref, Role.COMMANDER, "U1", ADA, authz=OPEN)
    from bot.incident.domain import Status
    from bot.incident.schemas import IncidentUpdate

    await flows.update_incident(db, ref, IncidentUpdate(status=Status.RESOLVED), ADA, authz=OPEN)
    clock.advance(minutes=500)
    assert await reminders.check() == []
