"""Reminder test fixtures: a controllable clock, a local paging webhook server, helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.auth.actor import SYSTEM
from bot.chat.groups import ConsoleGroups
from bot.chat.metrics import ChatMetrics
from bot.config import Settings, load_settings
from bot.db import Database
from bot.incident import flows
from bot.incident.domain import Severity
from bot.incident.schemas import IncidentCreate
from bot.reminder.jobs import ReminderScheduler
from tests.access import OPEN
from tests.fakes.kube_api import serve_asgi

PAGING_SECRET = "Bearer paging-secret-123"
PAGING_KEY = "routing-key-456"


class FakeClock:
    """Time that moves only when the test says so (the incident core reads it too)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> datetime:
        self.now += timedelta(minutes=minutes, seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr("bot.incident.service.utcnow", clock)
    monkeypatch.setattr("bot.incident.timeline.utcnow", clock)
    return clock


@dataclass
class PagingServer:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    #: Statuses to answer next (then 202).
    script: list[int] = field(default_factory=list)

    async def endpoint(self, request: Request) -> JSONResponse:
        self.headers.append(dict(request.headers))
        self.received.append(await request.json())
        status = self.script.pop(0) if self.script else 202
        return JSONResponse({"status": "accepted" if status < 400 else "error"}, status_code=status)


@pytest.fixture
def paging() -> Iterator[PagingServer]:
    server = PagingServer()
    app = Starlette(routes=[Route("/v1/page/{key}", server.endpoint, methods=["POST"])])
    with serve_asgi(app) as url:
        server.url = f"{url}/v1/page/{PAGING_KEY}?source=incident-bot"
        yield server


def reminder_settings(db_url: str, **slack: Any) -> Settings:
    values: dict[str, Any] = {
        "status_reminder_min": {"SEV1": 15, "SEV2": 30, "SEV3": 60, "SEV4": 0},
        "no_commander_after_min": 10,
        "escalate_unacknowledged_after_min": 15,
        "oncall_group": "@ml-oncall",
    }
    values.update(slack)
    return load_settings(database_url=db_url, slack=values)


Factory = Callable[[Settings], ReminderScheduler]


@pytest.fixture
async def scheduler(db: Database, clock: FakeClock) -> AsyncIterator[Factory]:
    """Builds reminder schedulers on the test database and clock (not started); closes them."""
    built: list[ReminderScheduler] = []

    def build(settings: Settings) -> ReminderScheduler:
        reminders = ReminderScheduler(
            db, settings, ConsoleGroups(), ChatMetrics(CollectorRegistry()), clock=clock
        )
        built.append(reminders)
        return reminders

    yield build
    for reminders in built:
        await reminders.stop()


async def declare(
    db: Database, severity: Severity = Severity.SEV2, title: str = "fraud model latency"
) -> str:
    return (
        await flows.declare_incident(db, IncidentCreate(title=title, severity=severity), SYSTEM, authz=OPEN)
    ).ref
