"""Escalation of unacknowledged incidents: on-call mention, broadcast, paging webhook (real HTTP)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.auth.actor import Actor, Interface
from bot.chat.outbox import OutboxMessage
from bot.db import Database
from bot.incident import flows
from bot.reminder.flows import MAX_PAGE_ATTEMPTS
from bot.reminder.models import PageStatus, Reminder
from tests.access import OPEN
from tests.reminder.conftest import (
    PAGING_KEY,
    PAGING_SECRET,
    Factory,
    FakeClock,
    PagingServer,
    declare,
    reminder_settings,
)

ADA = Actor(id="U1", kind="person", interface=Interface.SLACK)


async def _rows(
    db: Database, model: type[OutboxMessage] | type[Reminder]
) -> list[OutboxMessage] | list[Reminder]:
    async with db.session() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())  # type: ignore[arg-type]


async def test_unacknowledged_incident_is_escalated_and_paged(
    db: Database, db_url: str, clock: FakeClock, paging: PagingServer, scheduler: Factory
) -> None:
    settings = reminder_settings(
        db_url,
        no_commander_after_min=0,
        broadcast_channel="CINCIDENTS",
        paging_webhook_url=paging.url,
        paging_webhook_secret=PAGING_SECRET,
    )
    reminders = scheduler(settings)
    ref = await declare(db, title="recommendations all identical")
    clock.advance(minutes=14)
    assert await reminders.check() == [] and paging.received == []
    clock.advance(minutes=1)
    (fired,) = await reminders.check()
    assert (fired.kind.value, fired.paging) == ("escalation", True)
    (body,) = paging.received
    assert body["event"] == "incident.escalated" and body["dedup_key"] == f"escalation:{ref[4:]}"
    assert (body["incident"], body["severity"], body["status"], body["oncall_group"]) == (
        ref,
        "SEV2",
        "triggered",
        "@ml-oncall",
    )
    assert body["url"].endswith(f"/api/v1/incidents/{ref}") and body["unacknowledged_for_min"] == 15
    assert paging.headers[0]["authorization"] == PAGING_SECRET
    room, broadcast = await _rows(db, OutboxMessage)
    assert isinstance(room, OutboxMessage) and isinstance(broadcast, OutboxMessage)
    assert (room.payload["channel"], broadcast.payload["channel"]) == ("$incident_channel", "CINCIDENTS")
    assert room.payload["text"].startswith(
        f"@ml-oncall :rotating_light: {ref} (SEV2) is still unacknowledged 15 min"
    )
    (row,) = await _rows(db, Reminder)
    assert isinstance(row, Reminder) and row.page_status == PageStatus.SENT and row.paged_at == clock.now
    (event,) = [e for e in await flows.get_timeline(db, ref) if e.kind == "escalated"]
    assert event.text == (
        "Escalated: unacknowledged after 15 min; alerted the on-call group @ml-oncall and the paging webhook"
    )
    clock.advance(minutes=60)
    assert await reminders.check() == [] and len(paging.received) == 1  # once


async def test_acknowledged_incidents_are_not_escalated(
    db: Database, db_url: str, clock: FakeClock, paging: PagingServer, scheduler: Factory
) -> None:
    reminders = scheduler(reminder_settings(db_url, paging_webhook_url=paging.url))
    ref = await declare(db)
    clock.advance(minutes=5)
    await flows.acknowledge(db, ref, ADA, authz=OPEN)
    clock.advance(minutes=30)
    assert [f.kind.value for f in await reminders.check()] == ["commander_nudge"]
    assert paging.received == []


async def test_paging_failures_are_retried_then_given_up_loudly(
    db: Database,
    db_url: str,
    clock: FakeClock,
    paging: PagingServer,
    scheduler: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = reminder_settings(
        db_url, no_commander_after_min=0, paging_webhook_url=paging.url, paging_webhook_secret=PAGING_SECRET
    )
    reminders = scheduler(settings)
    ref = await declare(db)
    paging.script = [503, 500]
    clock.advance(minutes=15)
    await reminders.check()
    (row,) = await _rows(db, Reminder)
    assert isinstance(row, Reminder)
    assert (row.page_status, row.page_attempts) == ("failed", 1)
    assert "503" in (row.page_error or "") and "paging webhook at http://127.0.0.1" in (row.page_error or "")
    clock.advance(seconds=29)
    await reminders.check()
    assert len(paging.received) == 1  # backing off: 30 s after the first failure
    clock.advance(seconds=1)
    await reminders.check()
    clock.advance(seconds=60)
    await reminders.check()
    (row,) = await _rows(db, Reminder)
    assert isinstance(row, Reminder) and (row.page_status, row.page_attempts) == ("sent", 3)
    assert [b["dedup_key"] for b in paging.received] == [f"escalation:{ref[4:]}"] * 3

    # a webhook that never works: given up after MAX_PAGE_ATTEMPTS, on the timeline and in the log
    other = await declare(db)
    paging.script = [500] * MAX_PAGE_ATTEMPTS
    clock.advance(minutes=15)
    for _ in range(MAX_PAGE_ATTEMPTS):
        await reminders.check()
        clock.advance(minutes=10)
    gave_up = [
        r for r in await _rows(db, Reminder) if isinstance(r, Reminder) and r.incident_id == int(other[4:])
    ]
    assert (gave_up[0].page_status, gave_up[0].page_attempts) == ("gave_up", MAX_PAGE_ATTEMPTS)
    (event,) = [e for e in await flows.get_timeline(db, other) if e.kind == "paging_failed"]
    assert "page them by hand" in event.text
    assert any(r.levelname == "ERROR" and "gave up" in r.getMessage() for r in caplog.records)
    everything = caplog.text + str([e.model_dump() for e in await flows.get_timeline(db, other)])
    everything += str([r.model_dump() for r in await _rows(db, Reminder)])
    assert PAGING_SECRET not in everything and "paging-secret" not in everything
    assert PAGING_KEY not in everything  # the key in the webhook URL's path stays out of errors
