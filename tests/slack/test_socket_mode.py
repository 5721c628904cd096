"""Socket Mode: with SLACK_APP_TOKEN the bot connects out over a websocket (bolt's async socket
mode handler as a runtime component); requests arrive as envelopes and are acked by id."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.incident import flows
from bot.slack.app import SocketMode
from tests.fakes.slack_api import FakeSlackServer
from tests.slack.conftest import USERS, Room, RoomFakeSlack, room_settings, running_room
from tests.slack.socket_mode_fake import APP_TOKEN, FakeSocketMode


@pytest.fixture
def socket_mode() -> Iterator[FakeSocketMode]:
    server = FakeSocketMode()
    server.start()
    yield server
    server.stop()


class SocketModeSlack(RoomFakeSlack):
    """The fake Web API that also opens Socket Mode connections for the app-level token."""

    def __init__(self, wss_url: str) -> None:
        super().__init__()
        self.tokens.add(APP_TOKEN)
        self.wss_url = wss_url

    def _handlers(self) -> dict[str, Any]:
        return {**super()._handlers(), "apps.connections.open": lambda args: {"url": self.wss_url}}


@pytest.fixture
def fake(socket_mode: FakeSocketMode) -> RoomFakeSlack:
    workspace = SocketModeSlack(socket_mode.url)
    for user_id, name in USERS.items():
        workspace.add_user(user_id, name, email=f"{name}@example.com")
    workspace.add_channel("incidents")
    workspace.add_channel("general", members=tuple(USERS))
    return workspace


@pytest.fixture
async def room(
    db_url: str, slack_server: FakeSlackServer, fake: RoomFakeSlack, socket_mode: FakeSocketMode
) -> AsyncIterator[Room]:
    settings = room_settings(db_url, slack_server.api_url, app_token=APP_TOKEN, signing_secret=None)
    async with running_room(settings, fake, slack_server) as running:
        await socket_mode.wait_connected()
        yield running


def command(room: Room, text: str, channel: str) -> tuple[str, dict[str, Any]]:
    rid, url = room.response_url()
    return rid, {
        "token": "legacy-verification-token",
        "team_id": "T0FAKE",
        "team_domain": "fake-workspace",
        "channel_id": channel,
        "channel_name": "x",
        "user_id": "UANA",
        "user_name": "ana",
        "command": "/incident",
        "text": text,
        "api_app_id": "AFAKE",
        "response_url": url,
        "trigger_id": room.fake.new_trigger_id(),
    }


async def test_connects_with_the_app_token_and_serves_no_http_route(
    room: Room, socket_mode: FakeSocketMode
) -> None:
    [opened] = room.fake.calls_to("apps.connections.open")
    assert opened.ok
    assert any(isinstance(c, SocketMode) for c in room.runtime.components)
    response = await room.http.post("/slack/events", content="{}")
    assert response.status_code == 404


async def test_a_command_envelope_is_acked_and_acted_on(room: Room, socket_mode: FakeSocketMode) -> None:
    _rid, body = command(room, "help", room.general)
    envelope = await socket_mode.send("slash_commands", body)
    ack = await socket_mode.ack(envelope)
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/incident declare" in ack["payload"]["text"]

    ref = await room.declare()
    await room.settle()
    channel = await room.channel_of(ref)
    rid, body = command(room, "note seen from socket mode", channel)
    started = time.monotonic()
    envelope = await socket_mode.send("slash_commands", body)
    ack = await socket_mode.ack(envelope)
    assert time.monotonic() - started < 3
    assert ack == {"envelope_id": envelope}
    await room.settle()
    assert room.fake.responses_to(rid)[0]["text"] == ":memo: Added to the INC-1 timeline."
    notes = [e for e in await flows.get_timeline(room.runtime.db, ref) if e.kind == "note"]
    assert [(n.text, n.actor, n.interface) for n in notes] == [("seen from socket mode", "ana", "slack")]


async def test_an_event_envelope(room: Room, socket_mode: FakeSocketMode) -> None:
    ref = await room.declare()
    await room.settle()
    channel = await room.channel_of(ref)
    message = room.fake.post_as_user(channel, "UBEN", "gpu node drained")
    event = {
        "type": "reaction_added",
        "user": "UCAT",
        "reaction": "memo",
        "item": {"type": "message", "channel": channel, "ts": message["ts"]},
        "event_ts": "1.0",
    }
    body = {
        "type": "event_callback",
        "team_id": "T0FAKE",
        "api_app_id": "AFAKE",
        "event": event,
        "event_id": "Ev1",
    }
    envelope = await socket_mode.send("events_api", body)
    await socket_mode.ack(envelope)
    await room.settle()
    assert "gpu node drained" in [e.text for e in await flows.get_timeline(room.runtime.db, ref)]
