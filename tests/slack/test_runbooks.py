"""Runbooks from Slack: list, suggested, plan, run, approvals (buttons only to approvers), progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.audit.service import list_audit
from bot.incident import flows as incident_flows
from bot.incident.domain import Role
from bot.runbook import flows
from bot.slack.ids import ActionId, BlockId
from integrations.wiring import Integrations
from tests.access import OPEN_PERMISSIONS
from tests.fakes.slack_api import FakeSlackServer
from tests.runbook.actions import Store, make_registry
from tests.slack.conftest import API, Room, RoomFakeSlack, room_settings, running_room

ROLLBACK = """
name: rollback-model
title: Roll the fraud model back
owner: ml-platform
when:
  - models: ["fraud-*"]
approval:
  required: one
  by_severity: {SEV4: none}
  approvers: ["role:commander", "@ml-oncall", "UDAN"]
steps:
  - id: alias
    action: test.set
    with: {key: champion, value: v41}
  - id: cache
    action: test.set
    with: {key: cache, value: flushed}
"""
FALLBACK = """
name: enable-fallback
title: Serve the rules-based fallback
owner: ml-platform
approval:
  required: none
steps:
  - {id: flag, action: test.set, with: {key: fallback, value: true}}
"""


@pytest.fixture
def store() -> Store:
    return Store(values={"champion": "v42", "cache": "warm"})


@pytest.fixture
async def room(
    db_url: str, slack_server: FakeSlackServer, fake: RoomFakeSlack, store: Store, tmp_path: Path
) -> AsyncIterator[Room]:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "rollback-model.yaml").write_text(ROLLBACK)
    (folder / "enable-fallback.yaml").write_text(FALLBACK)
    settings = room_settings(
        db_url,
        slack_server.api_url,
        permissions={**OPEN_PERMISSIONS, "run_runbooks": ["role:commander", "role:operations", "UANA"]},
        top={"runbooks_dir": folder, "runbooks": {"poll_interval": 0.05, "lease": 5}},
    )

    def with_test_actions(runtime: Any) -> None:
        runtime.integrations = Integrations(make_registry(store))

    async with running_room(settings, fake, slack_server, with_test_actions) as running:
        yield running


@pytest.fixture
async def incident(room: Room) -> tuple[str, str]:
    ref = await room.declare(severity="SEV2", models=["fraud-detector"])
    await incident_flows.assign_role(
        room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz
    )
    await room.settle()
    room.fake.calls.clear()
    return ref, await room.channel_of(ref)


def texts(message: dict[str, Any]) -> str:
    parts = [str(message.get("text", ""))]
    blocks = message.get("blocks") or []
    for block in json.loads(blocks) if isinstance(blocks, str) else blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []) if e.get("type") == "mrkdwn")
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    blocks = message.get("blocks") or []
    return [
        (e["action_id"], e["value"])
        for b in (json.loads(blocks) if isinstance(blocks, str) else blocks)
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


async def test_the_card_suggests_runbooks_with_plan_and_run(room: Room) -> None:
    await room.declare(severity="SEV2", models=["fraud-detector"])
    await room.settle()
    card = room.fake.ok_calls("chat.postMessage")[0].args
    value = json.dumps({"incident": "INC-1", "runbook": "rollback-model"}, separators=(",", ":"))
    assert (ActionId.RUNBOOK_PLAN, value) in buttons(card)
    run_button = next(
        e
        for b in card["blocks"]
        if b.get("block_id", "").startswith(BlockId.CARD_RUNBOOKS)
        for e in b["elements"]
        if e["action_id"] == ActionId.RUNBOOK_RUN
    )
    assert run_button["confirm"]["confirm"]["text"] == "Run"
    assert ("enable-fallback" in str(card)) is False  # not suggested for this incident


async def test_list_and_suggested(room: Room, incident: tuple[str, str]) -> None:
    _ref, channel = incident
    listed = await room.command("runbook list")
    suggested = await room.command("runbook suggested", channel=channel)
    await room.settle()
    assert "`enable-fallback` Serve the rules-based fallback" in texts(listed.answers()[0])
    assert "`rollback-model` Roll the fraud model back" in texts(listed.answers()[0])
    answer = suggested.answers()[0]
    assert "`rollback-model` Roll the fraud model back (when #1)" in texts(answer)
    assert [a for a, _ in buttons(answer)] == [ActionId.RUNBOOK_PLAN, ActionId.RUNBOOK_RUN]


async def test_plan_is_a_dry_run_shown_to_the_asker_and_the_channel(
    room: Room, incident: tuple[str, str], store: Store
) -> None:
    _ref, channel = incident
    reply = await room.command("runbook plan rollback-model", channel=channel)
    await room.settle()
    assert store.applies == []  # nothing changed
    answer = texts(reply.answers()[0])
    assert "Dry run of `rollback-model`* on INC-1 (nothing changed; needs 1 approval(s))" in answer
    assert "• `alias` champion: v42 → v41" in answer
    [line] = [c.args for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]
    assert line["text"].startswith("INC-1: Dry-run of rollback-model by ana")
    assert "• `cache` cache: warm → flushed" in texts(line)


async def test_run_waits_for_approval_and_asks_only_the_approvers(
    room: Room, incident: tuple[str, str], store: Store
) -> None:
    ref, channel = incident
    reply = await room.command("runbook run rollback-model", channel=channel, user="UANA")
    await room.settle()
    assert reply.text() == (
        ":arrow_forward: RUN-1 (Roll the fraud model back) waits for 1 approval(s) from "
        "role:commander, @ml-oncall, UDAN."
    )
    in_channel = [c.args for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]
    [request] = [m for m in in_channel if "needs 1 approval" in m["text"]]
    assert buttons(request) == []  # no buttons where everyone sees them
    assert "Approvers: the commander, @ml-oncall, <@UDAN>" in texts(request)
    dms = {
        c.args["channel"]: c.args
        for c in room.fake.ok_calls("chat.postMessage")
        if c.args["channel"][0] == "U"
    }
    # the commander (UBEN), the group's members (UBEN, UCAT) and UDAN; each once
    assert sorted(dms) == ["UBEN", "UCAT", "UDAN"]
    value = json.dumps({"incident": ref, "run": "RUN-1"}, separators=(",", ":"))
    assert buttons(dms["UCAT"]) == [(ActionId.RUN_APPROVE, value), (ActionId.RUN_DENY, value)]
    assert "• `alias` champion: v42 → v41" in texts(dms["UCAT"])
    assert store.applies == []

    # A forwarded button is no key: eve is no approver, ana asked for the run (four eyes).
    refused = await room.click(ActionId.RUN_APPROVE, value, user="UEVE", channel="DUEVE")
    own = await room.click(ActionId.RUN_APPROVE, value, user="UANA", channel="DUANA")
    await room.settle()
    assert refused.text().startswith(":warning: eve may not approve RUN-1")
    assert own.text() == (
        ":warning: four eyes: RUN-1 was requested by ana; someone else must approve it\n"
        "_allowed: another of the commander, @ml-oncall, UDAN (four eyes)_"
    )
    async with room.runtime.db.session() as session:
        refusals = [
            e.details["action"]
            for e in await list_audit(session, incident_id=1)
            if e.action == "authz.refused"
        ]
    assert refusals == ["runbook.approve", "runbook.approve"]

    approved = await room.click(ActionId.RUN_APPROVE, value, user="UCAT", channel="DUCAT")
    await room.settle()
    [answer] = approved.answers()
    assert answer["replace_original"] is True
    assert answer["text"].startswith(":+1: You approved RUN-1 (Roll the fraud model back)")
    await wait_for_run(room, "RUN-1", "succeeded")
    await room.settle()
    assert store.values["champion"] == "v41" and store.values["cache"] == "flushed"
    progress = [
        m["text"] for m in (c.args for c in room.fake.ok_calls("chat.postMessage")) if m["channel"] == channel
    ]
    joined = "\n".join(progress)
    expectations = (
        "cat approved RUN-1",
        "RUN-1 step alias succeeded: champion: v42 → v41",
        "RUN-1 succeeded",
    )
    for expected in expectations:
        assert expected in joined
    assert not any("step_started" in p or "requested RUN-1" in p for p in progress)


async def wait_for_run(room: Room, run: str, status: str) -> None:
    for _ in range(200):
        if (await flows.get_run(room.runtime, run)).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{run} is {(await flows.get_run(room.runtime, run)).status}, not {status}")


async def test_approve_and_deny_commands(room: Room, incident: tuple[str, str], store: Store) -> None:
    ref, channel = incident
    nothing = await room.command("approve", channel=channel, user="UBEN")
    await room.settle()
    assert nothing.text() == f":warning: no runbook run of {ref} waits for approval"
    await room.command("runbook run rollback-model", channel=channel)
    await room.settle()
    denied = await room.command("deny too risky at peak", channel=channel, user="UBEN")
    await room.settle()
    assert denied.text() == ":no_entry: You denied RUN-1 (Roll the fraud model back)."
    assert (await flows.get_run(room.runtime, "RUN-1")).status == "cancelled"
    lines = [c.args["text"] for c in room.fake.ok_calls("chat.postMessage") if c.args["channel"] == channel]
    assert any("ben denied RUN-1: too risky at peak" in line for line in lines)
    await room.command("runbook run rollback-model", channel=channel)
    await room.settle()
    approved = await room.command("approve RUN-2", channel=channel, user="UBEN")
    await room.settle()
    assert approved.text().startswith(":+1: You approved RUN-2")
    await wait_for_run(room, "RUN-2", "succeeded")
    other = await room.declare("other")
    await room.settle()
    wrong = await room.command(f"{other} approve RUN-2", user="UBEN")
    await room.settle()
    assert wrong.text().startswith(":warning: RUN-2 belongs to INC-1, not INC-2")


async def test_run_without_approval_and_refused_runner(
    room: Room, incident: tuple[str, str], store: Store
) -> None:
    _ref, channel = incident
    refused = await room.command("runbook run enable-fallback", channel=channel, user="UCAT")
    await room.settle()
    assert refused.text().startswith(":warning: cat may not run runbook enable-fallback")
    async with room.runtime.db.session() as session:
        audited = [(e.action, e.actor, e.interface) for e in await list_audit(session, incident_id=1)]
    assert ("authz.refused", "UCAT", "slack") in audited
    reply = await room.click(
        ActionId.RUNBOOK_RUN,
        json.dumps({"incident": "INC-1", "runbook": "enable-fallback"}),
        user="UANA",
        channel=channel,
    )
    await room.settle()
    assert reply.text() == ":arrow_forward: RUN-1 (Serve the rules-based fallback) starts now."
    await wait_for_run(room, "RUN-1", "succeeded")
    assert store.values["fallback"] is True


async def test_unknown_runbook_is_answered(room: Room, incident: tuple[str, str]) -> None:
    _ref, channel = incident
    reply = await room.command("runbook plan no-such-thing", channel=channel)
    await room.settle()
    assert reply.text().startswith(":warning:") and "no-such-thing" in reply.text()
