"""The outbox through Slack outages, 429s, dead letters, crashes, restarts and replicas.

Every test asserts the Web API calls the fake recorded: nothing lost, nothing duplicated
(except in the documented at-least-once window), order kept per channel.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bot.chat.metrics import ChatMetrics
from bot.chat.outbox import OutboxHooks
from bot.chat.senders import SlackSender
from bot.chat.settings import SlackSettings
from bot.chat.worker import OutboxWorker
from bot.db import Database
from tests.chat.conftest import drained, eventually, fast_outbox, make_worker, outbox_rows, post
from tests.fakes.slack_api import FakeSlack, FakeSlackServer


def _delivered(fake: FakeSlack, channel: str) -> list[str]:
    return [str(c.args["text"]) for c in fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]


def _assert_once_each(fake: FakeSlack) -> None:
    counts = Counter((c.args["channel"], c.args["text"]) for c in fake.ok_calls("chat.postMessage"))
    assert [key for key, n in counts.items() if n != 1] == []


async def test_outage_loses_nothing_and_the_backlog_drains_in_order(
    db: Database,
    fake_slack: FakeSlack,
    slack_server: FakeSlackServer,
    worker: OutboxWorker,
    chat_metrics: ChatMetrics,
) -> None:
    a, b = fake_slack.add_channel("inc-a"), fake_slack.add_channel("inc-b")
    with fake_slack.outage(503):
        await post(db, a, "a1", "a2")  # intake is a DB insert: Slack being down does not block it
        await post(db, b, "b1")
        await asyncio.sleep(0.5)
        failing = await outbox_rows(db)
        assert [r.status for r in failing] == ["failed", "pending", "failed"]
        assert failing[0].attempts >= 2 and "HTTP 503" in (failing[0].last_error or "")
        await post(db, a, "a3")
        await post(db, b, "b2")
    with slack_server.refusing_connections():
        await asyncio.sleep(0.4)
        await post(db, a, "a4")
    rows = await drained(db)
    assert all(r.status == "sent" for r in rows)
    assert _delivered(fake_slack, a) == ["a1", "a2", "a3", "a4"]
    assert _delivered(fake_slack, b) == ["b1", "b2"]
    _assert_once_each(fake_slack)
    # while Slack was down, only each lane's head was tried: order is never overtaken
    assert {c.args["text"] for c in fake_slack.calls_to("chat.postMessage") if not c.ok} == {"a1", "b1"}
    assert chat_metrics.failures.labels("chat.postMessage", "unavailable")._value.get() >= 4
    assert chat_metrics.sent.labels("chat.postMessage")._value.get() == 6


async def test_429_retry_after_is_honoured_for_the_whole_channel(
    db: Database, fake_slack: FakeSlack, worker: OutboxWorker, chat_metrics: ChatMetrics
) -> None:
    channel = fake_slack.add_channel("inc-busy")
    fake_slack.rate_limit("chat.postMessage", retry_after=2)  # longer than the SDK waits in-call
    await post(db, channel, "m1", "m2", lane="incident:1")
    await post(db, channel, "other lane", lane="incident:2")
    rows = await drained(db)
    calls = fake_slack.calls_to("chat.postMessage")
    assert calls[0].status == 429
    assert all(c.ok for c in calls[1:]) and len(calls) == 4
    assert min(c.at for c in calls[1:]) - calls[0].at >= 2.0
    assert _delivered(fake_slack, channel)[:2] in (["m1", "m2"], ["m1", "other lane"], ["other lane", "m1"])
    assert [t for t in _delivered(fake_slack, channel) if t != "other lane"] == ["m1", "m2"]
    _assert_once_each(fake_slack)
    assert all(r.status == "sent" and r.attempts == 0 for r in rows)  # a 429 is not a failure
    assert chat_metrics.rate_limited.labels("chat.postMessage")._value.get() == 1


async def test_short_429_is_absorbed_by_the_sdk_handler(
    db: Database, fake_slack: FakeSlack, worker: OutboxWorker, chat_metrics: ChatMetrics
) -> None:
    channel = fake_slack.add_channel("inc-blip")
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    await post(db, channel, "m1")
    (row,) = await drained(db)
    assert [c.status for c in fake_slack.calls] == [429, 200]
    assert row.status == "sent" and chat_metrics.rate_limited.labels("chat.postMessage")._value.get() == 0


async def test_dead_letter_after_max_attempts_is_logged_and_counted(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = fake_slack.add_channel("inc-dead")
    fake_slack.fail_next(3, status=500, method="chat.postMessage")
    await post(db, channel, "doomed", "survivor", lane="L")
    worker = make_worker(
        db, slack_settings.model_copy(update={"outbox": fast_outbox(max_attempts=3)}), hooks, chat_metrics
    )
    await worker.start()
    try:
        doomed, survivor = await drained(db)
    finally:
        await worker.stop()
    assert (doomed.status, doomed.attempts) == ("dead", 3)
    assert "3 attempts failed" in (doomed.last_error or "")
    assert survivor.status == "sent" and _delivered(fake_slack, channel) == ["survivor"]
    assert [c.status for c in fake_slack.calls] == [500, 500, 500, 200]
    assert chat_metrics.dead.labels("chat.postMessage", "unavailable")._value.get() == 1
    assert any(r.levelname == "ERROR" and "is dead" in r.getMessage() for r in caplog.records)


class _HangingSender:
    """Simulates a process that dies before (or right after) the call reaches Slack."""

    kind = "slack"

    def __init__(self, real: SlackSender, *, after_call: bool) -> None:
        self.real = real
        self.after_call = after_call
        self.reached = asyncio.Event()

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.after_call:
            await self.real.call(method, payload)
        self.reached.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.real.close()


async def _kill(worker: OutboxWorker) -> None:
    """Stop a worker the way a crash does: no cleanup, its leases stay in the database."""
    tasks = [t for t in (worker._loop_task, *worker._lanes.values()) if t is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await worker.sender.close()


@pytest.mark.parametrize("after_call", [False, True], ids=["crash-before-call", "crash-after-call"])
async def test_a_crashed_workers_messages_are_resent_after_its_lease(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
    after_call: bool,
) -> None:
    channel = fake_slack.add_channel("inc-crash")
    settings = slack_settings.model_copy(update={"outbox": fast_outbox(lease_s=0.5)})
    hanging = _HangingSender(SlackSender(settings), after_call=after_call)
    crashed = OutboxWorker(db, hanging, hooks, settings.outbox, chat_metrics, owner="crashed")
    await post(db, channel, "m1", "m2")
    await crashed.start()
    await asyncio.wait_for(hanging.reached.wait(), 5)
    await _kill(crashed)
    leased = (await outbox_rows(db))[0]
    assert (leased.status, leased.lease_owner) == ("pending", "crashed")  # never marked sent before the call

    successor = make_worker(db, settings, hooks, chat_metrics, owner="successor")
    await successor.start()
    try:
        rows = await drained(db)
    finally:
        await successor.stop()
    assert [r.status for r in rows] == ["sent", "sent"]
    # The at-least-once window: a call Slack accepted but nobody marked is sent again.
    assert _delivered(fake_slack, channel) == (["m1", "m1", "m2"] if after_call else ["m1", "m2"])


async def test_restart_with_a_backlog_neither_loses_nor_repeats(
    db: Database,
    fake_slack: FakeSlack,
    slack_settings: SlackSettings,
    hooks: OutboxHooks,
    chat_metrics: ChatMetrics,
) -> None:
    channel = fake_slack.add_channel("inc-restart")
    settings = slack_settings.model_copy(update={"outbox": fast_outbox(per_channel_interval_s=0.05)})
    texts = [f"m{i}" for i in range(12)]
    await post(db, channel, *texts)
    first = make_worker(db, settings, hooks, chat_metrics)
    await first.start()
    await eventually(lambda: len(fake_slack.ok_calls()) >= 3)
    await first.stop()
    assert 3 <= len(fake_slack.ok_calls()) < 12
    second = make_worker(db, settings, hooks, chat_metrics)
    await second.start()
    try:
        # A graceful stop leaves no claims behind: no waiting for a lease (5 s) to expire.
        await drained(db, timeout_s=3)
    finally:
        await second.stop()
    assert _delivered(fake_slack, channel) == texts


async def test_replicas_share_the_outbox_without_duplicates(
    db: Database, fake_slack: FakeSlack, slack_settings: SlackSettings, hooks: OutboxHooks
) -> None:
    channels = [fake_slack.add_channel(f"inc-r{i}") for i in range(3)]
    for channel in channels:
        await post(db, channel, *[f"{channel}-{n}" for n in range(5)])
    workers = [make_worker(db, slack_settings, hooks, ChatMetrics(CollectorRegistry())) for _ in range(2)]
    for worker in workers:
        await worker.start()
    try:
        await drained(db)
    finally:
        for worker in workers:
            await worker.stop()
    for channel in channels:
        assert _delivered(fake_slack, channel) == [f"{channel}-{n}" for n in range(5)]
    _assert_once_each(fake_slack)
