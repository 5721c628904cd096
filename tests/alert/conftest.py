"""A bot with the five shipped sources authenticated, and helpers to post, settle and inspect.

``bot_factory(**alerts_overrides)`` builds a running app (lifespan started) on the test's
database; its clock can be moved forward so expiry, flapping windows and ``min_duration_s``
are reached without sleeping. ``bot.settled()`` waits until the processor has drained the
inbox (the background processor runs as in production).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from bot.alert import flows as alert_flows
from bot.alert.models import Alert, AlertGroup, AlertInbox
from bot.alert.notes import PHRASES
from bot.alert.processor import AlertProcessor
from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.config import load_settings
from bot.incident import flows
from bot.incident.schemas import IncidentOut, IncidentQuery, TimelineEventOut
from bot.runtime import Runtime

#: The senders' documented payloads (copies of the shared fixtures, kept with the parser tests).
FIXTURES = Path(__file__).resolve().parents[1] / "integrations" / "sources" / "fixtures"

SECRETS = {
    "AM_TOKEN": "am-token-0123",
    "GRAFANA_HMAC": "grafana-hmac-secret",
    "PD_TOKEN": "pd-token-4567",
    "DD_PASSWORD": "dd-password-89",
    "GENERIC_HMAC": "generic-hmac-secret",
}

SOURCES: dict[str, Any] = {
    "alertmanager": {"auth": {"type": "bearer", "token": {"env": "AM_TOKEN"}}},
    "grafana": {"auth": {"type": "grafana_hmac", "secret": {"env": "GRAFANA_HMAC"}}},
    "pagerduty": {"auth": {"type": "bearer", "token": {"env": "PD_TOKEN"}}},
    "datadog": {"auth": {"type": "basic", "username": "datadog", "password": {"env": "DD_PASSWORD"}}},
    "generic": {"auth": {"type": "hmac", "secret": {"env": "GENERIC_HMAC"}}},
}


ALERT_TIMELINE_KINDS = {*PHRASES, "alerts_resolved", "declared", "status_changed", "reopened"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def auth_headers(source: str, body: bytes, now: datetime) -> dict[str, str]:
    """Valid credentials for the test config's ``source``. Signed requests carry the time to the
    microsecond, so two requests of one body are two requests (a signature is accepted once)."""
    stamp = f"{now.timestamp():.6f}"
    if source == "alertmanager":
        return {"Authorization": f"Bearer {SECRETS['AM_TOKEN']}"}
    if source == "pagerduty":
        return {"Authorization": f"Bearer {SECRETS['PD_TOKEN']}"}
    if source == "datadog":
        token = base64.b64encode(f"datadog:{SECRETS['DD_PASSWORD']}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if source == "grafana":
        digest = hmac.new(SECRETS["GRAFANA_HMAC"].encode(), stamp.encode() + b":" + body, hashlib.sha256)
        return {"X-Grafana-Alerting-Signature": digest.hexdigest(), "X-Grafana-Alerting-Timestamp": stamp}
    if source == "generic":
        digest = hmac.new(SECRETS["GENERIC_HMAC"].encode(), stamp.encode() + b":" + body, hashlib.sha256)
        return {"X-Signature": f"sha256={digest.hexdigest()}", "X-Timestamp": stamp}
    return {}


@dataclass
class Clock:
    """Real time plus an offset that tests move forward."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> datetime:
        self.offset += timedelta(**delta)
        return self()


@dataclass
class Bot:
    app: FastAPI
    runtime: Runtime
    client: httpx.AsyncClient
    clock: Clock

    @property
    def processor(self) -> AlertProcessor:
        processor: AlertProcessor = self.app.state.alert_processor
        return processor

    async def post(
        self, source: str, payload: Any, *, headers: dict[str, str] | None = None, auth: bool = True
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {
            "Content-Type": "application/json",
            **(auth_headers(source, body, self.clock()) if auth else {}),
        }
        return await self.client.post(
            f"/webhooks/{source}", content=body, headers={**sent, **(headers or {})}
        )

    async def send(self, source: str, payload: Any) -> httpx.Response:
        """Post, expect 202, and wait until it is processed."""
        response = await self.post(source, payload)
        assert response.status_code == 202, response.text
        await self.settled()
        return response

    async def settled(self, timeout_s: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (await alert_flows.inbox_status(self.runtime.db)).pending:
            assert loop.time() < deadline, "the processor did not drain the inbox"
            self.processor.wake()
            await asyncio.sleep(0.01)

    async def sweep(self, **advance: float) -> None:
        self.clock.advance(**advance)
        await self.processor.sweep()

    async def incidents(self) -> list[IncidentOut]:
        items, _ = await flows.list_incidents(self.runtime.db, IncidentQuery(limit=1000))
        return sorted(items, key=lambda i: int(i.ref.split("-")[1]))

    async def kinds(self, ref: str) -> list[str]:
        """Timeline kinds written by alert processing and status changes (other components,
        e.g. the chat layer creating a channel, add their own events concurrently)."""
        return [e.kind for e in await self.timeline(ref) if e.kind in ALERT_TIMELINE_KINDS]

    async def timeline(self, ref: str, kinds: tuple[str, ...] = ()) -> list[TimelineEventOut]:
        events = await flows.get_timeline(self.runtime.db, ref)
        return [e for e in events if not kinds or e.kind in kinds]

    async def alerts(self) -> list[Alert]:
        async with self.runtime.db.session() as session:
            return list(await session.exec(select(Alert).order_by(col(Alert.id))))

    async def groups(self) -> list[AlertGroup]:
        async with self.runtime.db.session() as session:
            return list(await session.exec(select(AlertGroup).order_by(col(AlertGroup.id))))

    async def inbox(self) -> list[AlertInbox]:
        """The inbox rows, after moving what the intake spool holds (SQLite) into the inbox."""
        if self.app.state.alert_spool is not None:
            await self.app.state.alert_spool.move()
        async with self.runtime.db.session() as session:
            return list(await session.exec(select(AlertInbox).order_by(col(AlertInbox.id))))


BotFactory = Callable[..., AbstractAsyncContextManager[Bot]]


@pytest.fixture
def bot_factory(db_url: str, monkeypatch: pytest.MonkeyPatch) -> BotFactory:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    @asynccontextmanager
    async def factory(**alerts: Any) -> AsyncIterator[Bot]:
        config: dict[str, Any] = {"sources": SOURCES, "processor": {"sweep_interval_s": 3600}, **alerts}
        settings = load_settings(database_url=db_url, alerts=config)
        runtime = Runtime.build(settings)
        app = create_app(settings, runtime)
        clock = Clock()
        app.state.alert_webhooks.clock = clock
        app.state.alert_processor.clock = clock
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
                yield Bot(app=app, runtime=runtime, client=client, clock=clock)

    return factory


@pytest.fixture
async def bot(bot_factory: BotFactory) -> AsyncIterator[Bot]:
    async with bot_factory() as running:
        yield running


@pytest.fixture
async def tokens(bot: Bot) -> dict[str, dict[str, str]]:
    """Authorization headers for a read, a write and an admin token (in the bot's database)."""
    headers = {}
    async with bot.runtime.db.transaction() as session:
        for scope in Scope:
            _row, clear = await create_token(session, f"test-{scope.value}", [scope], SYSTEM)
            headers[scope.value] = {"Authorization": f"Bearer {clear}"}
    return headers


def am_payload(
    alerts: list[dict[str, Any]],
    *,
    group: dict[str, str],
    status: str | None = None,
) -> dict[str, Any]:
    """An Alertmanager v4 webhook body for ``alerts`` (each: labels, status, startsAt...)."""
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status
        or ("firing" if any(a.get("status", "firing") == "firing" for a in alerts) else "resolved"),
        "receiver": "incident-bot",
        "groupLabels": group,
        "commonLabels": group,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": a.get("status", "firing"),
                "labels": a["labels"],
                "annotations": a.get(
                    "annotations", {"summary": f"{a['labels'].get('alertname', 'alert')} firing"}
                ),
                "startsAt": a.get("startsAt", "2026-11-20T03:12:05Z"),
                "endsAt": a.get("endsAt", "0001-01-01T00:00:00Z"),
                "generatorURL": "http://prometheus.example:9090/graph",
            }
            for a in alerts
        ],
    }


def ml_alert(status: str = "firing", **fields: Any) -> dict[str, Any]:
    """A body of the generic ML-monitor contract (the generic source's default mapping)."""
    body: dict[str, Any] = {
        "status": status,
        "severity": "high",
        "title": "Feature table user_features stale",
        "monitor": "freshness",
        "labels": {"model": "fraud-detector", "feature_table": "user_features"},
    }
    body.update(fields)
    return body
