"""Fixtures of the chat tests: a fake Slack workspace served over HTTP and settings for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from sqlmodel import col, select

from bot.chat.metrics import ChatMetrics
from bot.chat.outbox import OPEN_STATUSES, OutboxHooks, OutboxMessage, enqueue
from bot.chat.senders import SlackSender
from bot.chat.settings import OutboxSettings, SlackSettings
from bot.chat.worker import OutboxWorker
from bot.db import Database
from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, FakeSlackServer, serve_fake_slack


@pytest.fixture
def fake_slack() -> FakeSlack:
    fake = FakeSlack()
    fake.add_user("U1", "ada", email="ada@example.com")
    fake.add_user("U2", "grace", email="grace@example.com")
    fake.add_usergroup("S1", "ml-oncall", ["U1", "U2"])
    return fake


@pytest.fixture
def slack_server(fake_slack: FakeSlack) -> Iterator[FakeSlackServer]:
    with serve_fake_slack(fake_slack) as server:
        yield server


def fast_outbox(**overrides: float) -> OutboxSettings:
    """Pacing and backoff shrunk so tests run in fractions of a second."""
    values: dict[str, float] = {
        "per_channel_interval_s": 0.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "poll_interval_s": 0.05,
        "lease_s": 5.0,
        "max_attempts": 50,
        "call_timeout_s": 5,
        "sdk_max_retry_wait_s": 1.0,
    }
    values.update(overrides)
    return OutboxSettings.model_validate(values)


@pytest.fixture
def slack_settings(slack_server: FakeSlackServer) -> SlackSettings:
    return SlackSettings(bot_token=DEFAULT_TOKEN, api_url=slack_server.api_url, outbox=fast_outbox())


@pytest.fixture
def hooks() -> OutboxHooks:
    return OutboxHooks()


@pytest.fixture
def chat_metrics() -> ChatMetrics:
    return ChatMetrics(CollectorRegistry())


def make_worker(
    db: Database, settings: SlackSettings, hooks: OutboxHooks, metrics: ChatMetrics, owner: str | None = None
) -> OutboxWorker:
    worker = OutboxWorker(db, SlackSender(settings), hooks, settings.outbox, metrics, owner=owner)
    db.commit_hooks.append(worker.on_commit)
    return worker


@pytest.fixture
async def worker(
    db: Database, slack_settings: SlackSettings, hooks: OutboxHooks, chat_metrics: ChatMetrics
) -> AsyncIterator[OutboxWorker]:
    """A started worker sending to the fake Slack; stopped after the test."""
    worker = make_worker(db, slack_settings, hooks, chat_metrics)
    await worker.start()
    yield worker
    await worker.stop()


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def drained(db: Database, timeout_s: float = 15.0) -> list[OutboxMessage]:
    """Wait until no message is pending or retrying; return all rows."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await outbox_rows(db)
        if all(r.status not in OPEN_STATUSES for r in rows):
            return rows
        if time.monotonic() > deadline:
            summary = [
                (r.id, r.method, r.status, r.attempts, r.last_error)
                for r in rows
                if r.status in OPEN_STATUSES
            ]
            raise AssertionError(f"outbox not drained after {timeout_s}s: {summary}")
        await asyncio.sleep(0.02)


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.01)


async def post(
    db: Database, channel: str, *texts: str, lane: str | None = None, incident_id: int | None = None
) -> list[OutboxMessage]:
    """Enqueue chat.postMessage calls, one transaction each."""
    messages = []
    for text in texts:
        async with db.transaction() as session:
            message = await enqueue(
                session,
                method="chat.postMessage",
                payload={"channel": channel, "text": text},
                lane=lane or channel,
                incident_id=incident_id,
            )
            assert message is not None
            messages.append(message)
    return messages
