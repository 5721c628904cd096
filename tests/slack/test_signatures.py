"""Only requests signed by Slack within 5 minutes get in, each once; the rest get 401, change
nothing and leave an ``auth.failed`` audit entry."""

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
    """Incidents, timeline events, and audit entries other than failed authentications."""
    async with room.runtime.db.session() as session:
        audited = select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "auth.failed")
        return (
            (await session.exec(select(func.count()).select_from(Incident))).one(),
            (await session.exec(select(func.count()).select_from(TimelineEvent))).one(),
            (await session.exec(audited)).one(),
        )


async def failures(room: Room) -> list[tuple[str, str, str]]:
    async with room.runtime.db.session() as session:
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.action == "auth.failed"))).all()
    return [(r.interface, r.target_id, str(r.details["reason"])) for r in rows]


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
    assert await failures(room) == [
        ("slack", "POST /slack/events", "the Slack signature is missing, wrong or older than 5 minutes")
    ]


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
    assert len(await failures(room)) == 1


async def test_a_tampered_body_is_refused(room: Room) -> None:
    body = note_command(room)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sr.signature_headers(body)}
    response = await room.http.post("/slack/events", content=body.replace("hello", "hacked"), headers=headers)
    assert response.status_code == 401


async def test_a_signed_request_is_accepted_once(room: Room) -> None:
    await room.declare()
    await room.settle()
    body = note_command(room)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sr.signature_headers(body)}
    first = await room.http.post("/slack/events", content=body, headers=headers)
    await room.settle()
    before = await counts(room)
    replayed = await room.http.post("/slack/events", content=body, headers=headers)
    await room.settle()
    assert (first.status_code, replayed.status_code) == (200, 401)
    assert await counts(room) == before
    assert (await room.kinds("INC-1")).count("note") == 1
    assert await failures(room) == [
        ("slack", "POST /slack/events", "this signed request was received before: a replay is refused")
    ]


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
