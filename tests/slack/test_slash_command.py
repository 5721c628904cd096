"""/incident over HTTP: every subcommand's happy path and bad input, answered ephemerally."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.incident import flows
from bot.slack.ids import BlockId, CallbackId, InputId
from tests.slack import slack_requests as sr
from tests.slack.conftest import Room


@pytest.fixture
async def incident(room: Room) -> tuple[str, str]:
    """INC-1 with its room open: (ref, channel id)."""
    ref = await room.declare(severity="SEV3", responders=["UANA"])
    await room.settle()
    room.fake.calls.clear()
    return ref, await room.channel_of(ref)


def section_texts(message: dict[str, Any]) -> str:
    out = [message.get("text", "")]
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(f["text"] for f in block.get("fields", []))
    return "\n".join(out)


async def test_help_and_empty_input(room: Room) -> None:
    for text in ("help", ""):
        reply = await room.command(text)
        assert reply.ack["response_type"] == "ephemeral"
        assert "`/incident sev <SEV1-SEV4> [reason]" in reply.ack["text"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("frobnicate", "unknown subcommand &#x27;frobnicate&#x27;"),
        ("sev 9", "is not a severity"),
        ("sev", "which severity?"),
        ("role boss <@UBEN|ben>", "is not a role"),
        ("role commander ben", "is not a person"),
        ("note", "a note needs text"),
        ("status sleeping", "is not a status"),
        ("runbook plan", "which runbook?"),
        ("approve 3 now", "usage: approve"),
        ("postmortem please", "postmortem takes no arguments"),
    ],
)
async def test_bad_input_gets_help_and_changes_nothing(
    room: Room, incident: tuple[str, str], text: str, problem: str
) -> None:
    ref, channel = incident
    before = await room.kinds(ref)
    reply = await room.command(text, channel=channel)
    assert reply.response.status_code == 200
    assert reply.ack["response_type"] == "ephemeral"
    first_line = reply.ack["text"].splitlines()[0]
    assert first_line.startswith(":warning:")
    assert problem.replace("&#x27;", "'") in first_line
    assert "/incident note <text>" in reply.ack["text"]
    await room.settle()
    assert await room.kinds(ref) == before
    assert room.methods() == []


async def test_commands_outside_an_incident_channel_need_the_incident(
    room: Room, incident: tuple[str, str]
) -> None:
    reply = await room.command("sev 1")  # in #general
    assert "not an incident channel" in reply.ack["text"]
    named = await room.command("sev 1 INC-1".replace("sev 1 INC-1", "INC-1 sev 1"))
    await room.settle()
    assert named.text() == ":white_check_mark: INC-1 is now SEV1."


async def test_an_unknown_incident_is_answered(room: Room) -> None:
    reply = await room.command("status INC-99")
    await room.settle()
    assert reply.ack == {}
    assert reply.text() == ":warning: incident INC-99 does not exist"


async def test_status_shows_the_card(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    reply = await room.command("status", channel=channel)
    await room.settle()
    [answer] = reply.answers()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == f"{ref} [SEV3 · triggered] Fraud model latency"
    assert any(b.get("block_id") == BlockId.CARD_ACTIONS for b in answer["blocks"])


async def test_status_change_sev_ack_note_resolve(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    steps = [
        ("ack", ":white_check_mark: INC-1 acknowledged; status investigating."),
        ("sev SEV2 wider impact", ":white_check_mark: INC-1 is now SEV2."),
        ("status mitigated fallback model serving", ":white_check_mark: INC-1 is mitigated."),
        ("note rolled back <!channel> & checked", ":memo: Added to the INC-1 timeline."),
        ("resolve error rate normal for 30 min", ":white_check_mark: INC-1 is resolved."),
    ]
    for text, answer in steps:
        reply = await room.command(text, channel=channel)
        assert reply.response.status_code == 200 and reply.ack == {}
        await room.settle()
        assert reply.text() == answer, text
    events = await flows.get_timeline(room.runtime.db, ref)
    mine = [(e.kind, e.actor, e.interface) for e in events if e.interface == "slack"]
    assert mine == [
        ("status_changed", "ana", "slack"),
        ("severity_changed", "ana", "slack"),
        ("status_changed", "ana", "slack"),
        ("note", "ana", "slack"),
        ("status_changed", "ana", "slack"),
    ]
    note = next(e for e in events if e.kind == "note")
    assert note.text == "rolled back <!channel> & checked"
    lines = room.fake.texts(channel)[1:]
    assert lines[3] == ":memo: rolled back &lt;!channel&gt; &amp; checked (ana)"  # no @channel ping
    assert "Status mitigated → *resolved* by ana: error rate normal for 30 min" in lines[4]


async def test_illegal_transition_is_explained(room: Room, incident: tuple[str, str]) -> None:
    _ref, channel = incident
    reply = await room.command("status closed", channel=channel)
    await room.settle()
    assert reply.text().startswith(":warning: INC-1 cannot go from triggered to closed")
    assert "allowed from triggered: investigating, identified, mitigated, resolved" in reply.text()


async def test_role_assignment_sends_the_checklist_privately(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    reply = await room.command("role commander <@UBEN|ben>", channel=channel)
    await room.settle()
    assert reply.text() == ":white_check_mark: <@UBEN> is now Incident commander of INC-1."
    me = await room.command("role scribe me", channel=channel)
    await room.settle()
    assert me.text() == ":white_check_mark: <@UANA> is now Scribe of INC-1."
    again = await room.command("role scribe me", channel=channel)
    await room.settle()
    assert again.text() == "<@UANA> already is Scribe of INC-1."

    roles = (await flows.get_incident(room.runtime.db, ref)).roles
    assert {k: v.assignee for k, v in roles.items()} == {"commander": "UBEN", "scribe": "UANA"}
    dms = [c.args for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] in ("UBEN", "UANA")]
    assert [d["channel"] for d in dms] == ["UBEN", "UANA"]
    assert "Acknowledge the incident" in section_texts(dms[0])
    assert "Keep the timeline complete" in section_texts(dms[1])
    assert room.methods("conversations.invite") == ["conversations.invite"]  # ben; ana is a responder


async def test_postmortem_answers_with_the_draft(room: Room, incident: tuple[str, str]) -> None:
    _ref, channel = incident
    await room.command("note action: add a latency alert", channel=channel)
    await room.settle()
    reply = await room.command("postmortem", channel=channel)
    await room.settle()
    [answer] = reply.answers()
    body = section_texts(answer)
    assert "Postmortem draft of INC-1" in body
    assert "https://bot.example.com/api/v1/incidents/INC-1/postmortem" in body
    assert "add a latency alert" in body
    assert "```" in body


async def test_declare_opens_the_modal_and_its_submission_declares(room: Room) -> None:
    reply = await room.command("declare Churn model drift")
    await room.settle()
    assert reply.ack == {}
    [opened] = room.fake.ok_calls("views.open")
    view = json.loads(opened.args["view"]) if isinstance(opened.args["view"], str) else opened.args["view"]
    assert view["callback_id"] == CallbackId.DECLARE_MODAL
    title_block = next(b for b in view["blocks"] if b["block_id"] == BlockId.DECLARE_TITLE)
    assert title_block["element"]["initial_value"] == "Churn model drift"

    values = {
        BlockId.DECLARE_TITLE: {InputId.TITLE: {"type": "plain_text_input", "value": "Churn model drift"}},
        BlockId.DECLARE_SEVERITY: {
            InputId.SEVERITY: {"type": "static_select", "selected_option": {"value": "SEV2"}}
        },
        BlockId.DECLARE_MODELS: {InputId.MODELS: {"type": "plain_text_input", "value": "churn-v3, churn-v2"}},
        BlockId.DECLARE_SERVICES: {InputId.SERVICES: {"type": "plain_text_input", "value": None}},
        BlockId.DECLARE_DESCRIPTION: {
            InputId.DESCRIPTION: {"type": "plain_text_input", "value": "PSI > 0.3"}
        },
    }
    submitted = await room.interact(
        sr.view_submission(values, user="UANA", user_name="ana", private_metadata=view["private_metadata"])
    )
    assert submitted.status_code == 200 and submitted.content == b""
    await room.settle()
    out = await flows.get_incident(room.runtime.db, "INC-1")
    assert (out.title, out.severity, out.models, out.summary) == (
        "Churn model drift",
        "SEV2",
        ["churn-v3", "churn-v2"],
        "PSI > 0.3",
    )
    assert out.responders == ["UANA"] and out.declared_by == "ana"
    assert reply.text().startswith(":rotating_light: Declared INC-1: Churn model drift (SEV2).")
    assert "UANA" in room.fake.members[out.chat_channel_id or ""]


async def test_declare_form_errors_are_shown_under_the_field(room: Room) -> None:
    values = {
        BlockId.DECLARE_TITLE: {InputId.TITLE: {"type": "plain_text_input", "value": "x" * 301}},
        BlockId.DECLARE_SEVERITY: {
            InputId.SEVERITY: {"type": "static_select", "selected_option": {"value": "SEV2"}}
        },
    }
    response = await room.interact(
        sr.view_submission(values, user="UANA", user_name="ana", private_metadata="{}")
    )
    body = response.json()
    assert body["response_action"] == "errors"
    assert "300 characters" in body["errors"][BlockId.DECLARE_TITLE]
    await room.settle()
    assert room.methods() == []


async def test_an_expired_trigger_is_answered(room: Room) -> None:
    room.fake.error_next("views.open", "expired_trigger_id")
    reply = await room.command("declare")
    await room.settle()
    assert reply.text().startswith(":warning: Slack did not open the declare form: expired_trigger_id")
