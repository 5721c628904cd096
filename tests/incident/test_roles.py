"""Roles: assignment, hand-over with history, both people named on the timeline."""

from __future__ import annotations

import pytest

from bot.auth.actor import Actor, Interface
from bot.db import Database
from bot.errors import InputError
from bot.incident import flows, service
from bot.incident.domain import Role
from bot.incident.schemas import IncidentCreate
from tests.access import OPEN

BOB = Actor(id="U_BOB", kind="person", interface=Interface.SLACK, name="bob")


async def test_handover_keeps_history_and_names_both(db: Database) -> None:
    ref = (await flows.declare_incident(db, IncidentCreate(title="latency"), BOB, authz=OPEN)).ref
    first = await flows.assign_role(db, ref, Role.COMMANDER, "alice", BOB, authz=OPEN)
    assert first.changed and first.previous is None
    again = await flows.assign_role(db, ref, Role.COMMANDER, "alice", BOB, authz=OPEN)
    assert not again.changed
    handover = await flows.assign_role(db, ref, Role.COMMANDER, "carol", BOB, authz=OPEN)
    assert handover.previous == "alice"
    await flows.assign_role(db, ref, Role.SCRIBE, "dave", BOB, authz=OPEN)

    incident = await flows.get_incident(db, ref)
    assert {k: v.assignee for k, v in incident.roles.items()} == {"commander": "carol", "scribe": "dave"}
    events = await flows.get_timeline(db, ref)
    assert [e.kind for e in events] == ["declared", "role_assigned", "role_handover", "role_assigned"]
    assert events[2].text == "Incident commander handed over from alice to carol"
    assert events[2].data == {"role": "commander", "assignee": "carol", "previous": "alice"}

    async with db.session() as session:
        history = await service.role_history(session, 1)
    assert [(h.role, h.assignee, h.relieved_at is not None) for h in history] == [
        ("commander", "alice", True),
        ("commander", "carol", False),
        ("scribe", "dave", False),
    ]
    assert history[0].relieved_by == "bob"


async def test_blank_assignee_is_refused(db: Database) -> None:
    ref = (await flows.declare_incident(db, IncidentCreate(title="latency"), BOB, authz=OPEN)).ref
    with pytest.raises(InputError):
        await flows.assign_role(db, ref, Role.COMMANDER, "   ", BOB, authz=OPEN)
