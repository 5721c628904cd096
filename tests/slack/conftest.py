"""The bot with Slack configured, against the fake Slack Web API, driven by signed requests.

``room`` starts the whole app (lifespan: outbox worker, room projector, Slack background work)
with the production slack_sdk clients pointed at the fake, and gives helpers that send what
Slack would send (slash commands, button clicks, shortcuts, modal submissions, events) and
wait until everything the bot decided has been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.app import create_app
from bot.auth.actor import Actor, Interface
from bot.chat.outbox import OPEN_STATUSES, OutboxMessage
from bot.config import Settings, load_settings
from bot.incident import flows
from bot.incident.models import Incident, TimelineEvent
from bot.incident.schemas import IncidentCreate
from bot.runtime import Runtime
from bot.slack.models import SlackRoom
from bot.slack.room.projector import RoomProjector
from bot.slack.work import BackgroundWork
from tests.access import OPEN_PERMISSIONS
from tests.fakes.slack_api import DEFAULT_TOKEN, FakeSlack, FakeSlackServer, SlackError, serve_fake_slack
from tests.slack import slack_requests as sr

USERS = {"UANA": "ana", "UBEN": "ben", "UCAT": "cat", "UDAN": "dan", "UEVE": "eve"}
#: Someone acting through the REST API (changes that do not come from Slack).
API = Actor(id="token:test", kind="token", interface=Interface.API, name="test-write")


class RoomFakeSlack(FakeSlack):
    """The fake Web API plus what interactions need: response_url endpoints (recorded) and
    conversations.history honouring ``latest``/``oldest``/``inclusive`` like Slack."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self._responses_lock = threading.Lock()

    def app(self) -> Starlette:
        base = super().app()
        return Starlette(routes=[*base.routes, Route("/response/{rid}", self._response, methods=["POST"])])

    async def _response(self, request: Request) -> PlainTextResponse:
        body = json.loads(await request.body())
        with self._responses_lock:
            self.responses.append((request.path_params["rid"], body))
        return PlainTextResponse("ok")

    def responses_to(self, rid: str) -> list[dict[str, Any]]:
        with self._responses_lock:
            return [body for r, body in self.responses if r == rid]

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        latest = float(args["latest"]) if args.get("latest") else None
        oldest = float(args["oldest"]) if args.get("oldest") else None

        def within(message: dict[str, Any]) -> bool:
            ts = float(message["ts"])
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return not (oldest is not None and (ts < oldest or (ts == oldest and not inclusive)))

        newest_first = [m for m in reversed(self.messages.get(channel_id, [])) if within(m)]
        limit = int(args.get("limit") or 100)
        return {"messages": newest_first[:limit], "has_more": len(newest_first) > limit}

    def post_as_user(self, channel: str, user: str, text: str) -> dict[str, Any]:
        """A message a person wrote in ``channel`` (test set-up, not a Web API call)."""
        with self._lock:
            if channel not in self.channels:
                raise SlackError("channel_not_found")
            message = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": self._next_ts(),
                "team": self.team_id,
            }
            self.messages[channel].append(message)
            return dict(message)


def room_settings(
    db_url: str,
    api_url: str,
    *,
    permissions: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
    **slack: Any,
) -> Settings:
    """Settings of a bot talking to the fake; ``top`` holds other top-level settings. Without
    ``permissions`` everyone may do everything (tests of the room, not of permissions)."""
    extra: dict[str, Any] = dict(top or {})
    extra["permissions"] = OPEN_PERMISSIONS if permissions is None else permissions
    return load_settings(
        **extra,
        database_url=db_url,
        public_url="https://bot.example.com",
        slack={
            "bot_token": DEFAULT_TOKEN,
            "signing_secret": sr.SIGNING_SECRET,
            "api_url": api_url,
            "broadcast_channel": "incidents",
            "outbox": {
                "per_channel_interval_s": 0,
                "tier_per_minute": {1: 6000, 2: 6000, 3: 6000, 4: 6000},
                "backoff_initial_s": 0.05,
                "backoff_max_s": 0.2,
                "poll_interval_s": 0.05,
                "lease_s": 5,
                "call_timeout_s": 5,
                "sdk_max_retry_wait_s": 1,
            },
            **slack,
        },
    )


@dataclass
class Room:
    """The running bot and the fake workspace, with Slack's side of the conversation."""

    fake: RoomFakeSlack
    server: FakeSlackServer
    runtime: Runtime
    http: httpx.AsyncClient
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def work(self) -> BackgroundWork | None:
        """The Slack app's background work (None when no Slack app takes requests)."""
        return next((c for c in self.runtime.components if isinstance(c, BackgroundWork)), None)

    def response_url(self) -> tuple[str, str]:
        rid = f"r{next(self._ids)}"
        return rid, f"{self.server.url}/response/{rid}"

    async def post_signed(self, body: str, content_type: str, **sign: Any) -> httpx.Response:
        headers = {"Content-Type": content_type, **sr.signature_headers(body, **sign)}
        return await self.http.post("/slack/events", content=body, headers=headers)

    @property
    def projector(self) -> RoomProjector:
        return next(c for c in self.runtime.components if isinstance(c, RoomProjector))

    @property
    def general(self) -> str:
        return self.fake.channel_id("general")

    async def command(self, text: str, *, user: str = "UANA", channel: str | None = None) -> Reply:
        rid, url = self.response_url()
        body = sr.command_body(
            text,
            user=user,
            user_name=USERS.get(user, user),
            channel=channel or self.general,
            response_url=url,
            trigger_id=self.fake.new_trigger_id(),
        )
        started = time.monotonic()
        response = await self.post_signed(body, "application/x-www-form-urlencoded")
        return Reply(self, rid, response, time.monotonic() - started)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.post_signed(sr.interaction_body(payload), "application/x-www-form-urlencoded")

    async def click(
        self, action_id: str, value: str, *, user: str = "UANA", channel: str | None = None
    ) -> Reply:
        rid, url = self.response_url()
        payload = sr.block_action(
            action_id,
            value,
            user=user,
            user_name=USERS.get(user, user),
            channel=channel or self.general,
            response_url=url,
            trigger_id=self.fake.new_trigger_id(),
        )
        started = time.monotonic()
        response = await self.interact(payload)
        return Reply(self, rid, response, time.monotonic() - started)

    async def event(self, event: dict[str, Any]) -> httpx.Response:
        return await self.post_signed(sr.event_callback(event), "application/json")

    async def settle(self, within_s: float = 20.0) -> None:
        """Wait until the bot is done: no background work, projections caught up, outbox empty."""
        deadline = time.monotonic() + within_s
        quiet = 0
        while quiet < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not settle within {within_s}s: {await self._busy()}")
            await asyncio.sleep(0.05)
            quiet = quiet + 1 if not await self._busy() else 0

    async def _busy(self) -> str:
        if self.work is not None and self.work.pending:
            return f"{self.work.pending} background task(s)"
        async with self.runtime.db.session() as session:
            open_calls = (
                await session.exec(select(OutboxMessage).where(col(OutboxMessage.status).in_(OPEN_STATUSES)))
            ).all()
            if open_calls:
                return "outbox: " + ", ".join(f"{m.method} ({m.last_error})" for m in open_calls)
            behind = (
                await session.exec(
                    select(func.count())
                    .select_from(TimelineEvent)
                    .outerjoin(SlackRoom, col(SlackRoom.incident_id) == col(TimelineEvent.incident_id))
                    .where(col(TimelineEvent.id) > func.coalesce(col(SlackRoom.cursor), 0))
                    .where(func.coalesce(col(SlackRoom.state), "") != "creating")
                )
            ).one()
            # A channel that exists while its room is still "creating": the projector has yet to
            # open the room (invites, pins, the card), though the outbox is empty for a moment.
            opening = (
                await session.exec(
                    select(func.count())
                    .select_from(SlackRoom)
                    .join(Incident, col(Incident.id) == col(SlackRoom.incident_id))
                    .where(col(SlackRoom.state) == "creating")
                    .where(col(Incident.chat_channel_id).is_not(None))
                )
            ).one()
        if opening:
            return f"{opening} room(s) being opened"
        return f"{behind} timeline event(s) not projected" if behind else ""

    async def declare(self, title: str = "Fraud model latency", **fields: Any) -> str:
        """Declare through the REST API's flow; returns INC-n."""
        out = await flows.declare_incident(
            self.runtime.db, IncidentCreate(title=title, **fields), API, authz=self.runtime.authz
        )
        return out.ref

    async def channel_of(self, ref: str) -> str:
        channel = (await flows.get_incident(self.runtime.db, ref)).chat_channel_id
        assert channel is not None, f"{ref} has no channel"
        return channel

    async def kinds(self, ref: str) -> list[str]:
        return [e.kind for e in await flows.get_timeline(self.runtime.db, ref)]

    def methods(self, *only: str) -> list[str]:
        return [c.method for c in self.fake.calls_to(*only) if c.method != "auth.test"]

    def users_responses(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.fake.responses)


@dataclass
class Reply:
    room: Room
    rid: str
    response: httpx.Response
    seconds: float

    @property
    def ack(self) -> dict[str, Any]:
        return self.response.json() if self.response.content else {}

    def answers(self) -> list[dict[str, Any]]:
        """What the bot said to the person afterwards (through the response_url)."""
        return self.room.fake.responses_to(self.rid)

    def text(self) -> str:
        return "\n".join(str(a.get("text", "")) for a in self.answers())


@pytest.fixture
def fake() -> RoomFakeSlack:
    workspace = RoomFakeSlack()
    for user_id, name in USERS.items():
        workspace.add_user(user_id, name, email=f"{name}@example.com")
    workspace.add_usergroup("SONCALL", "ml-oncall", ["UBEN", "UCAT"])
    workspace.add_channel("incidents")
    workspace.add_channel("general", members=tuple(USERS))
    return workspace


@pytest.fixture
def slack_server(fake: RoomFakeSlack) -> Iterator[FakeSlackServer]:
    with serve_fake_slack(fake) as server:
        yield server


@pytest.fixture
def room_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings a test overrides (``slack:`` fields and ``permissions``), by indirect parametrize
    or by redefining the fixture in a module."""
    return dict(getattr(request, "param", {}))


@contextlib.asynccontextmanager
async def running_room(
    settings: Settings,
    fake: RoomFakeSlack,
    server: FakeSlackServer,
    prepare: Callable[[Runtime], None] | None = None,
) -> AsyncIterator[Room]:
    """The whole bot (create_app + lifespan) for ``settings``; ``prepare`` adjusts the runtime first."""
    runtime = Runtime.build(settings)
    if prepare is not None:
        prepare(runtime)
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as http:
            yield Room(fake=fake, server=server, runtime=runtime, http=http)


@pytest.fixture
async def room(
    db_url: str, slack_server: FakeSlackServer, fake: RoomFakeSlack, room_overrides: dict[str, Any]
) -> AsyncIterator[Room]:
    async with running_room(
        room_settings(db_url, slack_server.api_url, **room_overrides), fake, slack_server
    ) as r:
        yield r
