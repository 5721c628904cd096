"""The outbox worker against the fake Slack Web API: order, hooks, placeholders, coalescing."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM
from bot.chat.metrics import ChatMetrics
from bot.chat.outbox import OutboxHooks, OutboxMessage, OutboxStatus, RetryLater, enqueue, incident_lane
from bot.chat.settings import SlackSettings
from bot.chat.worker import OutboxWorker
from bot.db import Database
from bot.incident import flows, service
from bot.incident.schemas import IncidentCreate
from tests.access import OPEN
from tests.chat.conftest import drained, fast_outbox, make_worker, outbox_rows, post
from tests.fakes.slack_api import FakeSlack


async def _incident(db: Database) -> int:
    out = await flows.declare_incident(db, IncidentCreate(title="ranking model drift"), SYSTEM, authz=OPEN)
    return int(out.ref.removeprefix("INC-"))


async def test_delivers_each_lane_in_order_and_marks_sent(
    db: Database, fake_slack: FakeSlack, worker: OutboxWorker
) -> None:
    a, b = fake_slack.add_channel("inc-a"), fake_slack.add_channel("inc-b")
    await post(db, a, "a1", "a2", "a3")
    await post(db, b, "b1", "b2")
    rows = await drained(db)
    assert fake_slack.texts(a) == ["a1", "a2", "a3"] and fake_slack.texts(b) == ["b1", "b2"]
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage") if c.args["channel"] == a] == [
        "a1",
        "a2",
        "a3",
    ]
    assert all(r.status == OutboxStatus.SENT and r.sent_at and r.attempts == 0 for r in rows)
    assert [r.result["ts"] for r in rows if r.result] == [
        m["ts"] for m in fake_slack.channel_messages(a) + fake_slack.channel_messages(b)
    ]


async def test_wakes_up_on_commit_not_on_polling(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
) -> None:
    slow_poll = slack_settings.model_copy(update={"outbox": fast_outbox(poll_interval_s=30)})
    worker = make_worker(db, slow_poll, hooks, chat_metrics)
    await worker.start()
    try:
        await asyncio.sleep(0.1)  # the first scan found nothing and sleeps for 30 s
        channel = fake_slack.add_channel("inc-wake")
        started = time.monotonic()
        await post(db, channel, "now")
        await drained(db, timeout_s=5)
        assert time.monotonic() - started < 2
    finally:
        await worker.stop()


async def test_result_handler_sees_the_answer_and_may_enqueue(
    db: Database, fake_slack: FakeSlack, hooks: OutboxHooks, worker: OutboxWorker
) -> None:
    incident_id = await _incident(db)

    async def channel_created(session: AsyncSession, message: OutboxMessage, answer: dict[str, Any]) -> None:
        incident = await service.get_incident(session, message.incident_id or 0, for_update=True)
        channel = answer["channel"]
        await service.set_chat_channel(session, incident, channel["id"], channel["name"], SYSTEM)
        await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": channel["id"], "text": "welcome"},
            lane=message.lane,
            incident_id=message.incident_id,
        )

    hooks.register_result_handler("channel_created", channel_created)
    async with db.transaction() as session:
        await enqueue(
            session,
            method="conversations.create",
            payload={"name": f"inc-{incident_id}-drift"},
            lane=incident_lane(incident_id),
            incident_id=incident_id,
            on_result="channel_created",
        )
    await drained(db)
    channel_id = fake_slack.channel_id(f"inc-{incident_id}-drift")
    assert fake_slack.texts(channel_id) == ["welcome"]
    assert (await flows.get_incident(db, f"INC-{incident_id}")).chat_channel_id == channel_id
    assert [c.method for c in fake_slack.calls] == ["conversations.create", "chat.postMessage"]


async def test_refusal_goes_to_the_handler_which_reacts(
    db: Database, fake_slack: FakeSlack, hooks: OutboxHooks, worker: OutboxWorker, chat_metrics: ChatMetrics
) -> None:
    fake_slack.add_channel("inc-7-x")
    answers: list[dict[str, Any]] = []

    async def created(session: AsyncSession, message: OutboxMessage, answer: dict[str, Any]) -> None:
        answers.append(answer)
        if answer.get("error") == "name_taken":
            await enqueue(
                session,
                method="conversations.create",
                payload={"name": message.payload["name"] + "-2"},
                lane=message.lane,
                on_result="created",
            )

    hooks.register_result_handler("created", created)
    async with db.transaction() as session:
        await enqueue(
            session, method="conversations.create", payload={"name": "inc-7-x"}, lane="L", on_result="created"
        )
    rows = await drained(db)
    assert [a.get("error") for a in answers] == ["name_taken", None]
    assert fake_slack.channel_id("inc-7-x-2")
    assert [(r.status, r.last_error) for r in rows] == [("sent", "name_taken"), ("sent", None)]
    assert chat_metrics.rejected.labels("conversations.create", "name_taken")._value.get() == 1


async def test_refusal_without_handler_is_dead_lettered(
    db: Database,
    fake_slack: FakeSlack,
    worker: OutboxWorker,
    chat_metrics: ChatMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = fake_slack.add_channel("inc-ok")
    await post(db, "C404", "lost channel", lane="L")
    await post(db, good, "next in lane", lane="L")
    first, second = await drained(db)
    assert (first.status, first.last_error) == ("dead", "Slack refused chat.postMessage: channel_not_found")
    assert first.result == {"ok": False, "error": "channel_not_found"}
    assert second.status == "sent" and fake_slack.texts(good) == ["next in lane"]
    assert chat_metrics.dead.labels("chat.postMessage", "channel_not_found")._value.get() == 1
    assert "is dead" in caplog.text and "channel_not_found" in caplog.text


async def test_failing_handler_keeps_the_message_sent(
    db: Database, fake_slack: FakeSlack, hooks: OutboxHooks, worker: OutboxWorker, chat_metrics: ChatMetrics
) -> None:
    channel = fake_slack.add_channel("inc-h")

    async def broken(session: AsyncSession, message: OutboxMessage, answer: dict[str, Any]) -> None:
        raise RuntimeError("bug in handler")

    hooks.register_result_handler("broken", broken)
    async with db.transaction() as session:
        await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": channel, "text": "once"},
            lane="L",
            on_result="broken",
        )
    (row,) = await drained(db)
    await asyncio.sleep(0.2)
    assert row.status == "sent" and "result handler failed" in (row.last_error or "")
    assert fake_slack.texts(channel) == ["once"]
    assert chat_metrics.handler_failures.labels("broken")._value.get() == 1


async def test_placeholders_wait_for_data_and_hold_the_lane(
    db: Database, fake_slack: FakeSlack, hooks: OutboxHooks, worker: OutboxWorker
) -> None:
    incident_id = await _incident(db)
    lane = incident_lane(incident_id)

    async def incident_channel(session: AsyncSession, message: OutboxMessage) -> dict[str, Any]:
        if message.payload.get("channel") != "$incident_channel":
            return message.payload
        incident = await service.get_incident(session, message.incident_id or 0)
        if incident.chat_channel_id is None:
            raise RetryLater("the incident has no channel yet", delay_s=0.05)
        return {**message.payload, "channel": incident.chat_channel_id}

    hooks.register_payload_resolver(incident_channel)
    broadcast = fake_slack.add_channel("incidents")
    async with db.transaction() as session:
        for text in ("first", "second"):
            await enqueue(
                session,
                method="chat.postMessage",
                payload={"channel": "$incident_channel", "text": text},
                lane=lane,
                incident_id=incident_id,
            )
        await enqueue(
            session,
            method="chat.postMessage",
            payload={"channel": broadcast, "text": "elsewhere"},
            lane=broadcast,
        )
    await asyncio.sleep(0.4)
    rows = await outbox_rows(db)
    assert [r.status for r in rows] == ["pending", "pending", "sent"]
    assert rows[0].last_error == "waiting: the incident has no channel yet"
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")] == ["elsewhere"]
    room = fake_slack.add_channel("inc-room")
    async with db.transaction() as session:
        incident = await service.get_incident(session, incident_id, for_update=True)
        await service.set_chat_channel(session, incident, room, "inc-room", SYSTEM)
    rows = await drained(db)
    assert fake_slack.texts(room) == ["first", "second"]
    assert rows[0].payload["channel"] == room and rows[0].attempts == 0


async def test_unresolved_placeholder_is_never_sent(
    db: Database, fake_slack: FakeSlack, worker: OutboxWorker
) -> None:
    async with db.transaction() as session:
        await enqueue(
            session, method="pins.add", payload={"channel": "C1", "timestamp": "$card_ts"}, lane="L"
        )
    await asyncio.sleep(0.3)
    (row,) = await outbox_rows(db)
    assert (
        row.status == "pending" and row.last_error == "waiting: unresolved placeholders: timestamp=$card_ts"
    )
    assert fake_slack.calls == []


async def test_rapid_card_updates_coalesce_into_one_call(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
) -> None:
    channel = fake_slack.add_channel("inc-card")
    card = fake_slack.dispatch(
        "chat.postMessage", {"channel": channel, "text": "card v0"}, "xoxb-fake-bot-token"
    )[1]
    fake_slack.calls.clear()
    async with db.transaction() as session:
        for version in range(1, 6):
            await enqueue(
                session,
                method="chat.update",
                payload={"channel": channel, "ts": card["ts"], "text": f"card v{version}"},
                lane="incident:1",
                coalesce_key="card:1",
            )
    worker = make_worker(db, slack_settings, hooks, chat_metrics)
    await worker.start()
    try:
        (row,) = await drained(db)
    finally:
        await worker.stop()
    assert [c.args["text"] for c in fake_slack.calls_to("chat.update")] == ["card v5"]
    assert fake_slack.texts(channel) == ["card v5"] and row.status == "sent"


async def test_messages_to_one_channel_are_paced(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
) -> None:
    busy, quiet = fake_slack.add_channel("inc-busy"), fake_slack.add_channel("inc-quiet")
    await post(db, busy, "b1", "b2", lane="incident:1")
    await post(db, busy, "b3", lane="incident:2")
    await post(db, quiet, "q1", lane="incident:3")
    paced = slack_settings.model_copy(update={"outbox": fast_outbox(per_channel_interval_s=0.25)})
    worker = make_worker(db, paced, hooks, chat_metrics)
    await worker.start()
    try:
        await drained(db)
    finally:
        await worker.stop()
    to_busy = [c.at for c in fake_slack.ok_calls("chat.postMessage") if c.args["channel"] == busy]
    gaps = [later - earlier for earlier, later in itertools.pairwise(to_busy)]
    assert len(to_busy) == 3 and min(gaps) >= 0.2  # paced 0.25 s apart at the sender (recv jitter)
    (to_quiet,) = [c.at for c in fake_slack.ok_calls("chat.postMessage") if c.args["channel"] == quiet]
    assert to_quiet - to_busy[0] < 0.2  # another channel is not held back


async def test_broken_resolver_and_endless_waits_end_dead_not_stuck(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
) -> None:
    async def resolver(session: AsyncSession, message: OutboxMessage) -> dict[str, Any]:
        if message.payload.get("text") == "bug":
            raise KeyError("card_ts")
        if message.payload.get("text") == "never":
            raise RetryLater("no channel yet", delay_s=0.05)
        return message.payload

    hooks.register_payload_resolver(resolver)
    channel = fake_slack.add_channel("inc-r")
    await post(db, channel, "bug", lane="L1")
    await post(db, channel, "never", lane="L2")
    await post(db, channel, "fine", lane="L3")
    strict = slack_settings.model_copy(update={"outbox": fast_outbox(max_attempts=2, resolve_timeout_s=0.3)})
    worker = make_worker(db, strict, hooks, chat_metrics)
    await worker.start()
    try:
        bug, never, fine = await drained(db)
    finally:
        await worker.stop()
    assert (bug.status, bug.attempts) == ("dead", 2) and "KeyError('card_ts')" in (bug.last_error or "")
    assert never.status == "dead" and never.last_error == "gave up waiting: no channel yet"
    assert fine.status == "sent" and fake_slack.texts(channel) == ["fine"]
    assert chat_metrics.dead.labels("chat.postMessage", "resolver_error")._value.get() == 1
    assert chat_metrics.dead.labels("chat.postMessage", "unresolved")._value.get() == 1
