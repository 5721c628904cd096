"""Card buttons, the message shortcut, the timeline reaction, and acking before slow work."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.incident import flows
from bot.incident.domain import Role, Status
from bot.incident.schemas import IncidentUpdate
from bot.slack.handlers import operations
from bot.slack.ids import ActionId
from tests.slack import slack_requests as sr
from tests.slack.conftest import API, Room


@pytest.fixture
async def incident(room: Room) -> tuple[str, str]:
    ref = await room.declare(responders=["UANA", "UBEN"])
    await room.settle()
    room.fake.calls.clear()
    return ref, await room.channel_of(ref)


async def test_acknowledge_button(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    reply = await room.click(ActionId.ACKNOWLEDGE, ref, channel=channel)
    await room.settle()
    assert reply.response.status_code == 200
    assert reply.text() == ":white_check_mark: INC-1 acknowledged; status investigating."
    incident = await flows.get_incident(room.runtime.db, ref)
    assert incident.status == Status.INVESTIGATING and incident.acknowledged_at is not None
    [update] = room.fake.ok_calls("chat.update")
    assert all(
        b.get("block_id") != "card.actions" or "Acknowledge" not in str(b) for b in update.args["blocks"]
    )


async def test_take_commander_button(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    reply = await room.click(ActionId.TAKE_COMMANDER, ref, user="UBEN", channel=channel)
    await room.settle()
    assert reply.text() == ":white_check_mark: <@UBEN> is now Incident commander of INC-1."
    assert (await flows.get_incident(room.runtime.db, ref)).roles["commander"].assignee == "UBEN"
    # The channel line and the role checklist DM: separate outbox groups, delivered in no set order.
    assert sorted(c.args["channel"] for c in room.fake.ok_calls("chat.postMessage")) == sorted(
        [channel, "UBEN"]
    )


async def test_resolve_button_then_a_stale_click(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    first = await room.click(ActionId.RESOLVE, ref, channel=channel)
    await room.settle()
    assert first.text() == ":white_check_mark: INC-1 is resolved."
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(status=Status.CLOSED), API, authz=room.runtime.authz
    )
    closed = await room.click(ActionId.RESOLVE, ref, channel=channel)
    await room.settle()
    assert closed.text().startswith(":warning: INC-1 cannot go from closed to resolved")


async def test_a_button_without_an_incident_is_answered(room: Room) -> None:
    reply = await room.click(ActionId.ACKNOWLEDGE, "nonsense")
    await room.settle()
    assert reply.text().startswith(":warning: this button names no incident")


async def test_message_shortcut_adds_the_message_once(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    message = room.fake.post_as_user(
        channel, "UBEN", "p99 back to 300ms after the rollback &amp; cache flush"
    )
    for attempt in range(2):
        rid, url = room.response_url()
        payload = sr.message_shortcut(
            message, user="UANA", user_name="ana", channel=channel, response_url=url, trigger_id="t"
        )
        response = await room.interact(payload)
        assert response.status_code == 200
        await room.settle()
        expected = ":memo: Added to the INC-1 timeline." if attempt == 0 else "Already on the INC-1 timeline."
        assert room.fake.responses_to(rid)[0]["text"] == expected
    notes = [e for e in await flows.get_timeline(room.runtime.db, ref) if e.kind == "note"]
    assert len(notes) == 1
    assert notes[0].text == "p99 back to 300ms after the rollback & cache flush"
    assert notes[0].actor == "ana"
    assert notes[0].data["author"] == "UBEN" and notes[0].data["ts"] == message["ts"]
    assert notes[0].data["permalink"].startswith("https://fake-workspace.slack.com/archives/")
    # captured messages are in the channel already: no echo line
    assert room.methods("chat.postMessage") == []


async def test_message_shortcut_outside_an_incident_channel(room: Room) -> None:
    message = room.fake.post_as_user(room.general, "UBEN", "hello")
    rid, url = room.response_url()
    payload = sr.message_shortcut(
        message, user="UANA", user_name="ana", channel=room.general, response_url=url, trigger_id="t"
    )
    await room.interact(payload)
    await room.settle()
    assert room.fake.responses_to(rid)[0]["text"].startswith(
        ":warning: this channel is not an incident channel"
    )


def reaction(emoji: str, channel: str, ts: str, user: str = "UCAT") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": emoji,
        "item_user": "UBEN",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }


async def test_timeline_reaction_adds_the_message(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    wanted = room.fake.post_as_user(channel, "UBEN", "feature store lagging 40 min")
    room.fake.post_as_user(channel, "UANA", "a later message")
    for emoji in ("thumbsup", "memo", "memo"):
        response = await room.event(reaction(emoji, channel, wanted["ts"]))
        assert response.status_code == 200
        await room.settle()
    notes = [e for e in await flows.get_timeline(room.runtime.db, ref) if e.kind == "note"]
    assert [(n.text, n.data["ts"]) for n in notes] == [("feature store lagging 40 min", wanted["ts"])]
    history = room.fake.calls_to("conversations.history")[0].args
    assert (history["latest"], history["oldest"], history["inclusive"]) == (wanted["ts"], wanted["ts"], "1")


async def test_timeline_reaction_elsewhere_is_ignored(room: Room, incident: tuple[str, str]) -> None:
    message = room.fake.post_as_user(room.general, "UBEN", "lunch?")
    await room.event(reaction("memo", room.general, message["ts"]))
    await room.settle()
    assert room.methods() == []


@pytest.mark.parametrize("room_overrides", [{"timeline_emoji": "pushpin"}], indirect=True)
async def test_the_timeline_emoji_is_configurable(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    message = room.fake.post_as_user(channel, "UBEN", "rollback done")
    await room.event(reaction("memo", channel, message["ts"]))
    await room.event(reaction("pushpin", channel, message["ts"]))
    await room.settle()
    notes = [e.text for e in await flows.get_timeline(room.runtime.db, ref) if e.kind == "note"]
    assert notes == ["rollback done"]


async def test_slow_work_runs_after_the_ack(
    room: Room, incident: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, channel = incident
    original = operations.flows.add_note

    async def slow_add_note(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3.5)  # longer than Slack waits for the ack
        return await original(*args, **kwargs)

    monkeypatch.setattr(operations.flows, "add_note", slow_add_note)
    reply = await room.command("note checking the feature store", channel=channel)
    assert reply.response.status_code == 200
    assert reply.seconds < 1.0  # acknowledged at once
    assert reply.answers() == []  # the work is still running
    await room.settle()
    assert reply.text() == ":memo: Added to the INC-1 timeline."
    assert "note" in await room.kinds(ref)


async def test_slow_button_work_runs_after_the_ack(
    room: Room, incident: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, channel = incident
    original = operations.flows.assign_role

    async def slow_assign(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3.5)
        return await original(*args, **kwargs)

    monkeypatch.setattr(operations.flows, "assign_role", slow_assign)
    reply = await room.click(ActionId.TAKE_COMMANDER, ref, channel=channel)
    assert reply.seconds < 1.0
    await room.settle()
    assert (await flows.get_incident(room.runtime.db, ref)).roles[Role.COMMANDER.value].assignee == "UANA"
