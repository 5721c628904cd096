"""Routing rules: first match wins, matchers, severity, thresholds, responders, auto-run."""

from __future__ import annotations

from typing import Any

import pytest

from bot.alert.notes import Notes
from bot.events import AutoRunRequested, Event
from tests.alert.conftest import BotFactory, am_payload, ml_alert

ROUTES: list[dict[str, Any]] = [
    {
        "name": "info-is-noise",
        "matchers": ['__severity__="info"'],
        "open_incident": False,
    },
    {
        "name": "fraud",
        "matchers": ['model=~"fraud.*"', 'env!="staging"'],
        "severity": "SEV1",
        "responders": ["@fraud-oncall", "U123"],
        "channel": "#fraud-incidents",
        "runbooks": ["rollback-model", "enable-naive-fallback"],
        "auto_run": [{"runbook": "enable-naive-fallback", "inputs": {"model": "fraud-detector"}}],
    },
    {
        "name": "drift-waits",
        "matchers": ['monitor="drift"'],
        "min_count": 3,
        "min_duration_s": 300,
        "severity_map": {"high": "SEV4"},
    },
]


def _gen(fp: str, **fields: Any) -> dict[str, Any]:
    return ml_alert(fingerprint=fp, **fields)


async def test_first_matching_rule_decides_and_fills_the_incident(bot_factory: BotFactory) -> None:
    published: list[Event] = []
    async with bot_factory(routes=ROUTES) as bot:
        bot.runtime.bus.subscribe(published.append)
        await bot.send("generic", _gen("1" * 16, labels={"model": "fraud-detector", "env": "prod"}))
        (incident,) = await bot.incidents()
        assert incident.severity.value == "SEV1"
        assert incident.responders == ["@fraud-oncall", "U123"]
        assert incident.notify_channel == "#fraud-incidents"
        assert incident.suggested_runbooks == ["rollback-model", "enable-naive-fallback"]
        (alert,) = await bot.alerts()
        assert alert.route == "fraud"
        runs = [e for e in published if isinstance(e, AutoRunRequested)]
        assert runs == [AutoRunRequested(1, "enable-naive-fallback", {"model": "fraud-detector"}, "fraud")]


async def test_negation_and_the_default_route(bot_factory: BotFactory) -> None:
    async with bot_factory(routes=ROUTES) as bot:
        await bot.send(
            "generic", _gen("2" * 16, severity="warning", labels={"model": "fraud-x", "env": "staging"})
        )
        (alert,) = await bot.alerts()
        assert alert.route == "default"
        (incident,) = await bot.incidents()
        assert incident.severity.value == "SEV3"  # default severity map: warning → SEV3
        assert incident.responders == [] and incident.suggested_runbooks == []


async def test_a_rule_that_opens_nothing_stores_the_alert(bot_factory: BotFactory) -> None:
    async with bot_factory(routes=ROUTES) as bot:
        await bot.send("generic", _gen("3" * 16, severity="info", labels={"model": "fraud-detector"}))
        (alert,) = await bot.alerts()
        assert alert.route == "info-is-noise" and alert.incident_id is None
        assert await bot.incidents() == []
        # ...but once its group has an open incident, it joins it as context.
        await bot.send("generic", _gen("4" * 16, severity="critical", labels={"model": "fraud-detector"}))
        assert {a.incident_id for a in await bot.alerts()} == {1}


async def test_min_count_waits_for_enough_alerts(bot_factory: BotFactory) -> None:
    async with bot_factory(routes=ROUTES) as bot:
        for i in range(2):
            await bot.send("generic", _gen(f"{i:016x}", monitor="drift", labels={"model": "churn"}))
        assert await bot.incidents() == []
        await bot.send("generic", _gen(f"{2:016x}", monitor="drift", labels={"model": "churn"}))
        (incident,) = await bot.incidents()
        assert incident.severity.value == "SEV4"  # the rule's severity map
        assert {a.incident_id for a in await bot.alerts()} == {1}
        joined = await bot.timeline("INC-1", ("alert_joined",))
        assert joined[0].data["count"] == 3


async def test_min_duration_opens_from_the_sweep(bot_factory: BotFactory) -> None:
    async with bot_factory(routes=ROUTES) as bot:
        await bot.send("generic", _gen("5" * 16, monitor="drift", labels={"model": "churn"}))
        await bot.sweep(seconds=200)
        assert await bot.incidents() == []
        await bot.sweep(seconds=101)
        (incident,) = await bot.incidents()
        assert incident.models == ["churn"]


async def test_min_duration_counts_from_when_the_alert_started(bot_factory: BotFactory) -> None:
    async with bot_factory(routes=ROUTES) as bot:
        started = bot.clock.advance(seconds=0).replace(microsecond=0)
        earlier = (started.replace(year=started.year - 1)).isoformat()
        await bot.send("generic", _gen("6" * 16, monitor="drift", detected_at=earlier, labels={"model": "x"}))
        assert len(await bot.incidents()) == 1


async def test_auto_run_is_published_once_even_when_a_transaction_rolls_back(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first processing attempt crashes after opening the incident: nothing of it is
    committed nor published; the retry opens it and publishes the auto-run once."""
    published: list[Event] = []
    original = Notes.flush
    crashes: list[int] = []

    async def flush_crashing_once(self: Notes, session: Any) -> None:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("crash inside the transaction")
        await original(self, session)

    monkeypatch.setattr(Notes, "flush", flush_crashing_once)
    async with bot_factory(routes=ROUTES) as bot:
        bot.runtime.bus.subscribe(published.append)
        await bot.send(
            "alertmanager",
            am_payload([{"labels": {"alertname": "A", "model": "fraud-detector"}}], group={"alertname": "A"}),
        )
        (incident,) = await bot.incidents()
        runs = [e for e in published if isinstance(e, AutoRunRequested)]
        assert crashes == [1]
        assert [r.incident_id for r in runs] == [int(incident.ref.removeprefix("INC-"))]
        (row,) = await bot.inbox()
        assert row.processed_at is not None and not row.failed and row.attempts == 0
