"""A configured person in the Slack room: roles are recorded under their id, and the room
still reaches them by their Slack id (mentions, invites, the checklist DM, approval requests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.incident import flows
from tests.slack.conftest import Room, fake, room, room_overrides, slack_server

__all__ = ["fake", "room", "room_overrides", "slack_server"]


@pytest.fixture
def room_overrides() -> dict[str, Any]:  # noqa: F811  (this module's people)
    return {"top": {"people": [{"id": "ana", "name": "Ana Lopez", "slack": "UANA", "cli": ["ana"]}]}}


def texts(call_args: dict[str, Any]) -> str:
    blocks = call_args.get("blocks") or []
    parsed = json.loads(blocks) if isinstance(blocks, str) else blocks
    return json.dumps(parsed) + str(call_args.get("text", ""))


async def test_a_person_is_recorded_by_id_and_reached_by_slack_id(room: Room) -> None:
    ref = await room.declare()
    await room.settle()
    channel = await room.channel_of(ref)
    room.fake.calls.clear()
    reply = await room.command("role commander me", channel=channel, user="UANA")
    await room.settle()
    assert reply.text() == f":white_check_mark: <@UANA> is now Incident commander of {ref}."
    incident = await flows.get_incident(room.runtime.db, ref)
    assert incident.roles["commander"].assignee == "ana"
    [event] = [e for e in await flows.get_timeline(room.runtime.db, ref) if e.kind == "role_assigned"]
    assert (event.actor_id, event.actor) == ("ana", "Ana Lopez")
    posted = room.fake.ok_calls("chat.postMessage")
    assert any(c.args["channel"] == "UANA" and "Incident commander" in texts(c.args) for c in posted)  # DM
    assert any(
        "<@UANA> is Incident commander" in texts(c.args) for c in posted if c.args["channel"] == channel
    )
    cards = [c for c in room.fake.ok_calls("chat.update") if "Incident commander: <@UANA>" in texts(c.args)]
    assert cards, "the card names the commander by mention"
