"""The incident room, asserted as the exact Web API calls the fake Slack received, in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.chat.outbox import OutboxMessage
from bot.db import Database
from bot.incident import flows, timeline
from bot.incident import service as incident_service
from bot.incident.domain import Role, Severity, Status, parse_ref
from bot.incident.schemas import IncidentUpdate
from bot.runtime import Runtime
from bot.slack.models import RoomState, SlackRoom
from tests.access import OPEN
from tests.slack.conftest import API, Room, room_settings


async def declare(room: Room, title: str = "Fraud model latency", **fields: Any) -> str:
    return await room.declare(title, **fields)


def card_calls(room: Room, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in room.fake.ok_calls("chat.update") if c.args["channel"] == channel]


def block_texts(args: dict[str, Any]) -> str:
    blocks = args["blocks"]
    parts = []
    for block in blocks if isinstance(blocks, list) else []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text["text"])
        parts.extend(f["text"] for f in block.get("fields", []))
    return "\n".join(parts)


async def test_a_new_incident_opens_a_room(room: Room) -> None:
    ref = await declare(room, severity="SEV2", responders=["UBEN", "dan@example.com", "@ml-oncall"])
    await room.settle()

    assert room.methods() == [
        "conversations.create",
        "conversations.invite",  # UBEN
        "users.lookupByEmail",  # dan@example.com
        "usergroups.list",  # @ml-oncall: UBEN, UCAT
        "chat.postMessage",  # the card
        "chat.postMessage",  # the announcement in #incidents
        "conversations.invite",  # UDAN, from the email
        "conversations.invite",  # UCAT, from the group (UBEN is invited already)
        "pins.add",  # the card, once its ts is known
    ]
    calls = room.fake.calls_to()
    create = room.fake.ok_calls("conversations.create")[0]
    assert create.args["name"] == "inc-1-fraud-model-latency"
    channel = create.response["channel"]["id"]
    invited = [c.args["users"] for c in room.fake.ok_calls("conversations.invite")]
    assert invited == ["UBEN", "UDAN", "UCAT"]
    assert room.fake.members[channel] >= {"UBEN", "UCAT", "UDAN"}
    card = room.fake.ok_calls("chat.postMessage")[0]
    assert card.args["channel"] == channel
    assert card.args["text"] == f"{ref} [SEV2 · triggered] Fraud model latency"
    assert room.fake.pins[channel] == [card.response["ts"]]
    announcement = room.fake.ok_calls("chat.postMessage")[1]
    assert announcement.args["channel"] == "incidents"
    assert f"<#{channel}>" in block_texts(announcement.args)
    assert [c.method for c in calls if not c.ok] == []

    incident = await flows.get_incident(room.runtime.db, ref)
    assert (incident.chat_channel_id, incident.chat_channel_name) == (channel, "inc-1-fraud-model-latency")
    kinds = [e.kind for e in await flows.get_timeline(room.runtime.db, ref)]
    assert kinds == ["declared", "channel_created"]


async def test_taken_names_get_a_counter(room: Room) -> None:
    room.fake.add_channel("inc-1-db-down")
    room.fake.add_channel("inc-1-db-down-2", bot_member=False)
    ref = await declare(room, "DB down")
    await room.settle()

    creates = room.fake.calls_to("conversations.create")
    assert [(c.args["name"], c.error) for c in creates] == [
        ("inc-1-db-down", "name_taken"),
        ("inc-1-db-down-2", "name_taken"),
        ("inc-1-db-down-3", None),
    ]
    incident = await flows.get_incident(room.runtime.db, ref)
    assert incident.chat_channel_name == "inc-1-db-down-3"
    assert room.methods()[3:] == ["chat.postMessage", "chat.postMessage", "pins.add"]


async def test_a_refused_channel_is_on_the_timeline_and_the_room_goes_on_without_it(room: Room) -> None:
    room.fake.error_next("conversations.create", "restricted_action")
    ref = await declare(room)
    await room.settle()
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UANA", API, authz=room.runtime.authz)
    await room.settle()

    assert room.methods() == ["conversations.create", "chat.postMessage"]  # the checklist DM only
    dm = room.fake.ok_calls("chat.postMessage")[0]
    assert dm.args["channel"] == "UANA" and "Incident commander" in dm.args["text"]
    events = await flows.get_timeline(room.runtime.db, ref)
    error = next(e for e in events if e.kind == "chat_error")
    assert "restricted_action" in error.text and error.data["error"] == "restricted_action"
    async with room.runtime.db.session() as session:
        assert (await session.get(SlackRoom, 1)).state == RoomState.FAILED  # type: ignore[union-attr]


async def test_changes_post_a_line_and_update_the_card(room: Room) -> None:
    ref = await declare(room, severity="SEV3")
    await room.settle()
    channel = (await flows.get_incident(room.runtime.db, ref)).chat_channel_id
    assert channel is not None
    room.fake.calls.clear()

    await flows.update_incident(
        room.runtime.db,
        ref,
        IncidentUpdate(severity=Severity.SEV1, reason="checkout down"),
        API,
        authz=room.runtime.authz,
    )
    await room.settle()
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz)
    await room.settle()
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(status=Status.MITIGATED), API, authz=room.runtime.authz
    )
    await room.settle()

    in_room = [c.method for c in room.fake.calls_to() if c.args.get("channel") != "UBEN"]
    assert in_room == [
        "chat.postMessage",  # severity line
        "chat.update",
        "chat.postMessage",  # role line
        "conversations.invite",  # the new commander
        "chat.update",
        "chat.postMessage",  # status line
        "chat.update",
    ]
    assert [c.method for c in room.fake.calls_to() if c.args.get("channel") == "UBEN"] == ["chat.postMessage"]
    lines = [c.args for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]
    assert "Severity SEV3 → *SEV1* by test-write: checkout down" in lines[0]["text"]
    assert "<@UBEN> is Incident commander" in lines[1]["text"]
    assert "Status triggered → *mitigated*" in lines[2]["text"]
    [dm] = [c for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == "UBEN"]
    assert "Your checklist" in block_texts(dm.args) and f"<#{channel}>" in block_texts(dm.args)
    assert room.fake.channel_messages("UBEN")[0]["text"].startswith("You are Incident commander of INC-1")
    final_card = card_calls(room, channel)[-1]
    text = block_texts(final_card)
    assert "mitigated" in text and "SEV1" in text and "Incident commander: <@UBEN>" in text
    # the pinned card message itself was edited in place
    pinned_ts = room.fake.pins[channel][0]
    assert all(c["ts"] == pinned_ts for c in card_calls(room, channel))
    assert room.fake.channel_messages(channel)[0]["text"] == final_card["text"]


async def paused_card_update(room: Room) -> None:
    """Wait until the card update was answered 429 and put back to wait (no longer in flight)."""
    for _ in range(200):
        async with room.runtime.db.session() as session:
            waiting = (
                await session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.method == "chat.update", OutboxMessage.status == "pending"
                    )
                )
            ).first()
        if waiting is not None and waiting.lease_owner is None and room.fake.calls_to("chat.update"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the card update was not paused")


async def test_rapid_changes_coalesce_into_one_card_update(room: Room) -> None:
    ref = await declare(room, severity="SEV3")
    await room.settle()
    channel = (await flows.get_incident(room.runtime.db, ref)).chat_channel_id
    room.fake.calls.clear()
    # Slack asks to slow down on chat.update: the worker pauses it while changes keep coming.
    room.fake.rate_limit("chat.update", retry_after=2)

    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(title="Fraud model p99 above 2s"), API, authz=room.runtime.authz
    )
    await paused_card_update(room)
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(severity=Severity.SEV2), API, authz=room.runtime.authz
    )
    await flows.acknowledge(room.runtime.db, ref, API, authz=room.runtime.authz)
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UCAT", API, authz=room.runtime.authz)
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(severity=Severity.SEV1), API, authz=room.runtime.authz
    )
    await room.settle()

    updates = room.fake.calls_to("chat.update")
    assert [c.status for c in updates] == [429, 200]
    assert "SEV1" in block_texts(updates[1].args)
    assert "Incident commander: <@UCAT>" in block_texts(updates[1].args)
    assert "investigating" in block_texts(updates[1].args)
    assert (
        room.fake.channel_messages(channel)[0]["text"]
        == "INC-1 [SEV1 · investigating] Fraud model p99 above 2s"
    )


async def test_notify_channel_of_the_routing_rule_is_announced_too(room: Room) -> None:
    room.fake.add_channel("ml-team")
    await declare(room, notify_channel="ml-team")
    await room.settle()
    announced = [c.args["channel"] for c in room.fake.ok_calls("chat.postMessage")[1:]]
    assert announced == ["incidents", "ml-team"]


async def test_an_incident_already_over_gets_no_room(room: Room) -> None:
    await stop_bot(room)
    ref = await declare(room)
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(status=Status.RESOLVED), API, authz=room.runtime.authz
    )
    await room.projector.project(1)
    async with room.runtime.db.session() as session:
        state = await session.get(SlackRoom, 1)
        queued = (await session.exec(select(OutboxMessage))).all()
    assert state is not None and state.state == RoomState.SKIPPED and state.cursor > 0
    assert queued == []


async def stop_bot(room: Room) -> None:
    for component in reversed(room.runtime.components):
        await component.stop()


async def test_a_restart_neither_repeats_nor_misses(room: Room, db_url: str) -> None:
    ref = await declare(room, responders=["UBEN"])
    await room.settle()
    before = room.methods()
    await stop_bot(room)
    # While no bot runs, the incident changes (another replica, the CLI...): no wake-up.
    other = Database(db_url)
    await flows.update_incident(other, ref, IncidentUpdate(severity=Severity.SEV1), API, authz=OPEN)
    await other.dispose()

    settings = room_settings(db_url, room.server.api_url)
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        await Room(fake=room.fake, server=room.server, runtime=runtime, http=room.http).settle()
    assert room.methods()[len(before) :] == ["chat.postMessage", "chat.update"]  # once each


async def test_projecting_events_again_enqueues_nothing_new(room: Room) -> None:
    ref = await declare(room, responders=["UBEN"])
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz)
    await room.settle()
    async with room.runtime.db.session() as session:
        sent = len((await session.exec(select(OutboxMessage))).all())
    async with room.runtime.db.transaction() as session:
        state = await session.get(SlackRoom, 1)
        assert state is not None
        state.cursor = 0  # as if the cursor had not been saved
        session.add(state)
    await room.projector.project(1)
    await room.settle()
    async with room.runtime.db.session() as session:
        queued = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [m.method for m in queued[sent:]] == ["chat.update"]  # only the card is refreshed


async def test_a_slack_outage_loses_nothing_and_the_room_opens_in_order_after_it(room: Room) -> None:
    with room.fake.outage():
        ref = await declare(room, responders=["UBEN"])
        await room.declare("second incident")
        for _ in range(200):
            if len(room.fake.calls_to("conversations.create")) >= 2:
                break
            await asyncio.sleep(0.02)
        assert all(c.status == 503 for c in room.fake.calls_to())
    await room.settle()
    ok = [c for c in room.fake.calls if c.ok and c.method != "auth.test"]
    channel = await room.channel_of(ref)
    first = [
        c.method
        for c in ok
        if str(c.args.get("name", "")).startswith("inc-1-")
        or c.args.get("channel") == channel
        or (c.args.get("channel") == "incidents" and "INC-1" in c.args["text"])
    ]
    assert first == [
        "conversations.create",
        "conversations.invite",
        "chat.postMessage",
        "chat.postMessage",
        "pins.add",
    ]
    # each incident has its own lane: the two rooms open independently
    assert sorted(c.args["name"] for c in ok if c.method == "conversations.create") == [
        "inc-1-fraud-model-latency",
        "inc-2-second-incident",
    ]
    assert len([c for c in ok if c.method == "chat.postMessage"]) == 4  # 2 cards, 2 announcements
    assert await room.kinds(ref) == ["declared", "channel_created"]


async def test_direct_messages_do_not_wait_for_the_channel(room: Room) -> None:
    room.fake.rate_limit("conversations.create", retry_after=2)  # the channel is delayed
    ref = await declare(room)
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz)
    for _ in range(100):
        if room.fake.ok_calls("chat.postMessage"):
            break
        await asyncio.sleep(0.02)
    assert [c.args["channel"] for c in room.fake.ok_calls("chat.postMessage")] == ["UBEN"]  # the checklist
    assert not room.fake.ok_calls("conversations.create")
    await room.settle()
    channel = await room.channel_of(ref)
    in_channel = [c.args for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]
    assert in_channel[0]["text"].startswith("INC-1 [SEV3")  # the card first, then the held line
    assert "<@UBEN> is Incident commander" in in_channel[1]["text"]
    dms = [c for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == "UBEN"]
    assert len(dms) == 1  # applied again after the channel came, sent once
    assert room.methods("conversations.invite") == ["conversations.invite"]  # the commander


async def _alerts_join(room: Room, ref: str, *titles: str) -> None:
    """What the alert processor records when alerts join an incident (one event per batch)."""
    async with room.runtime.db.transaction() as session:
        incident = await incident_service.get_incident(session, parse_ref(ref))
        await timeline.record(
            session,
            incident,
            kind="alert_joined",
            text=f"{len(titles)} alert(s) joined",
            actor=SYSTEM,
            data={"alerts": [{"fingerprint": t, "title": t, "severity": "critical"} for t in titles]},
        )


@pytest.mark.parametrize("room_overrides", [{"card_alert_refresh_s": 1.0}], indirect=True)
async def test_alert_traffic_refreshes_the_card_at_most_every_interval(room: Room) -> None:
    ref = await declare(room)
    await room.settle()
    channel = await room.channel_of(ref)
    rendered = len(card_calls(room, channel))

    await _alerts_join(room, ref, "A")  # the first after a while: rendered at once
    await room.settle()
    assert len(card_calls(room, channel)) == rendered + 1
    assert "1 firing of 1" in block_texts(card_calls(room, channel)[-1])

    for title in ("B", "C", "D"):  # a storm's batches within the interval: deferred
        await _alerts_join(room, ref, title)
    await room.settle()
    assert len(card_calls(room, channel)) == rendered + 1

    await asyncio.sleep(1.2)  # the deferred refresh comes due: one rendering of all three
    await room.settle()
    assert len(card_calls(room, channel)) == rendered + 2
    assert "4 firing of 4" in block_texts(card_calls(room, channel)[-1])

    await _alerts_join(room, ref, "E")
    await flows.update_incident(
        room.runtime.db, ref, IncidentUpdate(severity=Severity.SEV1), API, authz=room.runtime.authz
    )
    await room.settle()  # an operator's change: at once, alerts included
    last = block_texts(card_calls(room, channel)[-1])
    assert len(card_calls(room, channel)) == rendered + 3
    assert "SEV1" in last and "5 firing of 5" in last


@pytest.mark.parametrize("room_overrides", [{"card_alert_refresh_s": 60.0}], indirect=True)
async def test_a_deferred_card_refresh_is_done_when_the_bot_stops(room: Room) -> None:
    ref = await declare(room)
    await room.settle()
    channel = await room.channel_of(ref)
    await _alerts_join(room, ref, "A")
    await room.settle()
    await _alerts_join(room, ref, "B")  # deferred for a minute
    await room.settle()
    assert "1 firing of 1" in block_texts(card_calls(room, channel)[-1])
    await stop_bot(room)
    async with room.runtime.db.session() as session:
        updates = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.method == "chat.update"))
        ).all()
    # Queued (or already sent, when the chat worker stopped after the projector).
    assert "2 firing of 2" in json.dumps(updates[-1].payload)
