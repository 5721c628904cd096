"""Durability: 2xx only after commit, 503 when the database cannot commit, and processing that
takes effect exactly once per inbox row whatever crashes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.alert import flows as alert_flows
from bot.alert import service
from bot.alert.spool import spool_path
from bot.app import create_app
from bot.config import load_settings
from bot.db import sync_url
from bot.runtime import Runtime
from tests.alert.conftest import SECRETS, SOURCES, Bot, BotFactory, am_payload, fixture


async def test_processing_is_exactly_once_after_a_crash_mid_batch(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while applying a batch of three rows rolls all of it back; the retry applies
    each row once: counts are those of a single pass."""
    original = service.apply_batches
    calls: list[list[int]] = []

    async def crash_on_third(tx: Any, rows: list[service.Received]) -> None:
        calls.append([r.inbox_id for r in rows])
        if len(calls) == 1:
            raise RuntimeError("process killed")
        await original(tx, rows)

    monkeypatch.setattr("bot.alert.processor.apply_batches", crash_on_third)
    await bot.processor.stop()  # let three rows wait, then drain them in one batch
    payload = fixture("alertmanager_v4_firing.json")
    for _ in range(3):
        assert (await bot.post("alertmanager", payload)).status_code == 202
    assert len(await bot.inbox()) == 3  # (on SQLite, moved from the intake spool)
    assert await bot.processor.drain() == 3
    assert calls == [[1, 2, 3], [1], [2], [3]]
    alerts = await bot.alerts()
    assert [a.count for a in alerts] == [3, 3]
    assert len(await bot.incidents()) == 1
    assert all(row.processed_at is not None and not row.failed for row in await bot.inbox())


async def test_a_row_that_keeps_failing_is_set_aside_and_the_rest_proceed(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = service.apply_batches

    async def poison(tx: Any, rows: list[service.Received]) -> None:
        if any(r.inbox_id == 1 for r in rows):
            raise RuntimeError("cannot apply this one")
        await original(tx, rows)

    monkeypatch.setattr("bot.alert.processor.apply_batches", poison)
    async with bot_factory(
        processor={"max_attempts": 3, "poll_interval_s": 0.01, "sweep_interval_s": 3600}
    ) as bot:
        await bot.post("alertmanager", fixture("alertmanager_v4_firing.json"))
        await bot.post("pagerduty", fixture("pagerduty_events_v2_trigger.json"))
        await bot.settled()
        first, second = await bot.inbox()
        assert first.failed and first.attempts == 3 and "cannot apply this one" in (first.error or "")
        assert second.processed_at is not None and not second.failed
        (alert,) = await bot.alerts()
        assert alert.source == "pagerduty"
        status = await bot.client.get("/metrics")
        assert "incident_bot_alert_inbox_failed_total 1.0" in status.text


async def test_a_row_whose_source_was_removed_is_set_aside(bot: Bot) -> None:
    """Accepted by a bot that knew the source, processed by one (restarted) that does not."""
    if True:
        bot.processor.sources = {k: v for k, v in bot.processor.sources.items() if k != "generic"}
        await bot.post("generic", fixture("ml_monitor_generic_firing.json"))
        await bot.settled()
        (row,) = await bot.inbox()
        assert row.failed and row.error == "source 'generic' (generic) is no longer configured"


async def test_resolve_after_firing_in_separate_requests_is_applied_in_order(bot: Bot) -> None:
    firing = fixture("alertmanager_v4_firing.json")
    resolved = fixture("alertmanager_v4_resolved.json")
    assert (await bot.post("alertmanager", firing)).status_code == 202
    assert (await bot.post("alertmanager", resolved)).status_code == 202
    await bot.settled()
    assert {a.status for a in await bot.alerts()} == {"resolved"}


async def test_503_with_retry_after_when_the_commit_does_not_happen_in_time(
    bot_factory: BotFactory, db_url: str, backend: str
) -> None:
    """Where webhooks commit is locked by someone else (on SQLite the intake spool file):
    503 (Alertmanager retries), never 2xx or 4xx. When the lock goes, the waiting insert
    lands; the sender's retry then dedupes."""
    async with bot_factory(intake={"commit_timeout_s": 0.5}) as bot:
        spool = spool_path(db_url)
        engine = create_engine(f"sqlite:///{spool}" if spool else sync_url(db_url))
        connection = engine.connect()

        def lock() -> None:
            if backend == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(text("BEGIN"))
                connection.execute(text("SET LOCAL lock_timeout = '30s'"))
                connection.execute(text("LOCK TABLE alert_inbox IN ACCESS EXCLUSIVE MODE"))

        # In a thread: the lock waits for the bot's own open transactions (the processor's
        # read of the inbox), which need this event loop to finish. Taken on the loop's
        # thread, that wait never ended.
        await asyncio.to_thread(lock)
        try:
            response = await bot.post("alertmanager", fixture("alertmanager_v4_firing.json"))
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert "not committed within 0.5s" in response.json()["detail"]
        finally:
            connection.rollback()
            connection.close()
            engine.dispose()
        retry = await bot.post("alertmanager", fixture("alertmanager_v4_firing.json"))
        assert retry.status_code == 202
        await bot.settled()
        assert [a.count for a in await bot.alerts()] == [2, 2]


async def test_on_sqlite_a_busy_main_database_does_not_hold_webhooks_back(
    bot_factory: BotFactory, db_url: str, backend: str
) -> None:
    """Webhooks commit to the intake spool, a file with a write lock of its own: a long write
    transaction on the main file (processing, another process) does not delay their 2xx."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL has no single writer")
    async with bot_factory(intake={"commit_timeout_s": 0.5}) as bot:
        await bot.runtime.db.ping()
        database = sqlite3.connect(make_url(db_url).database or "", isolation_level=None, timeout=1)
        database.execute("BEGIN IMMEDIATE")
        try:
            for _ in range(3):
                response = await bot.post("alertmanager", fixture("alertmanager_v4_firing.json"))
                assert response.status_code == 202, response.text
            assert (await alert_flows.inbox_status(bot.runtime.db)).pending == 3  # held in the spool
            assert await bot.alerts() == []
        finally:
            database.rollback()
            database.close()
        await bot.settled()
        assert [a.count for a in await bot.alerts()] == [3, 3]
        assert [row.id for row in await bot.inbox()] == [1, 2, 3]


async def test_503_when_the_database_is_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path}/missing/dir/bot.db", alerts={"sources": SOURCES}
    )
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            response = await client.post(
                "/webhooks/alertmanager",
                json=am_payload([{"labels": {"alertname": "A"}}], group={"alertname": "A"}),
                headers={"Authorization": f"Bearer {SECRETS['AM_TOKEN']}"},
            )
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["code"] == "unavailable"


async def test_concurrent_requests_share_commits_and_all_land(bot: Bot) -> None:
    payloads = [
        am_payload([{"labels": {"alertname": "Load", "n": str(i)}}], group={"alertname": "Load"})
        for i in range(200)
    ]
    responses = await asyncio.gather(*(bot.post("alertmanager", p) for p in payloads))
    assert {r.status_code for r in responses} == {202}
    assert len(await bot.inbox()) == 200
    await bot.settled()
    assert len(await bot.alerts()) == 200
    assert len(await bot.incidents()) == 1
