"""Guarded actions from Slack: refusals are ephemeral (the rule, who may) and audited like
from any door; allowed people get through. The rules themselves live in bot.authz."""

from __future__ import annotations

from typing import Any

import pytest

from bot.audit.service import list_audit
from bot.incident import flows
from bot.incident.domain import Role
from bot.slack.ids import ActionId
from tests.slack.conftest import API, Room


@pytest.fixture
def room_overrides() -> dict[str, Any]:
    return {
        "permissions": {
            "change_severity": ["@ml-oncall"],  # UBEN, UCAT
            "resolve": ["role:commander", "UDAN"],
            "run_runbooks": ["role:commander"],
            "approve_runbooks": ["role:commander"],
            "assign_roles": ["*"],
        }
    }


@pytest.fixture
async def incident(room: Room) -> tuple[str, str]:
    ref = await room.declare()
    await room.settle()
    return ref, await room.channel_of(ref)


async def refusals(room: Room) -> list[dict[str, Any]]:
    async with room.runtime.db.session() as session:
        entries = await list_audit(session, incident_id=1)
    return [
        {"actor": e.actor, "interface": e.interface, **e.details}
        for e in entries
        if e.action == "authz.refused"
    ]


async def test_severity_is_refused_outside_the_group_and_audited(
    room: Room, incident: tuple[str, str]
) -> None:
    ref, channel = incident
    before = await room.kinds(ref)
    reply = await room.command("sev 1", channel=channel, user="UANA")
    await room.settle()
    assert reply.ack == {}
    [answer] = reply.answers()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == (
        ":warning: ana may not change the severity of INC-1\n"
        "_allowed: @ml-oncall (permissions.change_severity)_"
    )
    assert await room.kinds(ref) == before
    assert await refusals(room) == [
        {
            "actor": "UANA",
            "interface": "slack",
            "action": "incident.change_severity",
            "to": "SEV1",
            "reason": "ana may not change the severity of INC-1",
            "rule": "permissions.change_severity",
            "allowed": "@ml-oncall",
        }
    ]
    allowed = await room.command("sev 1", channel=channel, user="UBEN")  # in @ml-oncall
    await room.settle()
    assert allowed.text() == ":white_check_mark: INC-1 is now SEV1."


async def test_resolve_needs_the_commander_role(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    refused = await room.click(ActionId.RESOLVE, ref, user="UBEN", channel=channel)
    await room.settle()
    assert refused.text().startswith(":warning: ben may not resolve")
    assert [r["action"] for r in await refusals(room)] == ["incident.resolve"]
    assert (await flows.get_incident(room.runtime.db, ref)).status == "triggered"

    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz)
    allowed = await room.click(ActionId.RESOLVE, ref, user="UBEN", channel=channel)
    await room.settle()
    assert allowed.text() == ":white_check_mark: INC-1 is resolved."
    by_id = await room.command("status investigating", channel=channel, user="UDAN")
    await room.settle()
    assert by_id.text() == ":white_check_mark: INC-1 is investigating."  # reopening is not guarded


async def test_a_handed_over_role_no_longer_grants(room: Room, incident: tuple[str, str]) -> None:
    ref, channel = incident
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UBEN", API, authz=room.runtime.authz)
    await flows.assign_role(room.runtime.db, ref, Role.COMMANDER, "UCAT", API, authz=room.runtime.authz)
    refused = await room.command("resolve", channel=channel, user="UBEN")
    await room.settle()
    assert refused.text().startswith(":warning: ben may not resolve")
