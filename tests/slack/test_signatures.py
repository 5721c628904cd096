"""Only requests signed by Slack within 5 minutes get in; the rest get 401 and change nothing."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import func, select

from bot.audit.models import AuditEntry
from bot.incident.models import Incident, TimelineEvent
from tests.slack import slack_requests as sr
from tests.slack.conftest import Room


async def counts(room: Room) -> tuple[int, int, int]:
    async with room.runtime.db.session() as session:
        return tuple(  # type: ignore[return-value]
            [
                (await session.exec(select(func.count()).select_from(table))).one()
                for table in (Incident, TimelineEvent, AuditEntry)
            ]
        )


def note_command(room: Room) -> str:
    _rid, url = room.response_url()
    return sr.command_body(
        "INC-1 note hello",
        user="UANA",
        user_name="ana",
        channel=room.general,
        response_url=url,
        trigger_id="t",
    )


async def test_unsigned_request_is_refused(room: Room) -> None:
    await room.declare()
    await room.settle()
    before = await counts(room)
    response = await room.http.post(
        "/slack/events",
        content=note_command(room),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    assert await counts(room) == before


@pytest.mark.parametrize(
    ("offset_s", "secret", "why"),
    [
        (-310, sr.SIGNING_SECRET, "older than 5 minutes"),
        (310, sr.SIGNING_SECRET, "from the future"),
        (0, "not-the-signing-secret", "wrong secret"),
    ],
)
async def test_stale_or_forged_requests_are_refused(room: Room, offset_s: int, secret: str, why: str) -> None:
    await room.declare()
    await room.settle()
    before = await counts(room)
    sign = {"timestamp": int(time.time()) + offset_s, "secret": secret}
    response = await room.post_signed(note_command(room), "application/x-www-form-urlencoded", **sign)
    assert response.status_code == 401, why
    await room.settle()
    assert await counts(room) == before


async def test_a_tampered_body_is_refused(room: Room) -> None:
    body = note_command(room)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sr.signature_headers(body)}
    response = await room.http.post("/slack/events", content=body.replace("hello", "hacked"), headers=headers)
    assert response.status_code == 401


async def test_a_signed_request_within_the_window_is_accepted(room: Room) -> None:
    reply = await room.command("help")
    assert reply.response.status_code == 200
    assert "/incident declare" in reply.ack["text"]
    await room.declare()
    late = await room.post_signed(
        note_command(room), "application/x-www-form-urlencoded", timestamp=int(time.time()) - 240
    )
    assert late.status_code == 200
    await room.settle()
    assert "note" in await room.kinds("INC-1")


async def test_the_events_url_answers_slacks_verification_challenge(room: Room) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "legacy", "challenge": challenge, "type": "url_verification"})
    response = await room.post_signed(body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}
    unsigned = await room.http.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401


@pytest.mark.parametrize("room_overrides", [{"signing_secret": None}], indirect=True)
async def test_without_a_signing_secret_no_request_is_taken(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await room.post_signed(note_command(room), "application/x-www-form-urlencoded")
    assert reply.status_code == 404  # no route: nothing could verify the request
    ref = await room.declare()
    await room.settle()
    assert await room.channel_of(ref)  # the room still posts to Slack
    warned = [r.getMessage() for r in caplog.get_records("setup") if r.levelname == "WARNING"]
    assert any("Slack commands and buttons are off" in m and "SLACK_SIGNING_SECRET" in m for m in warned)
