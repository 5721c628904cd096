"""Concurrent writers must serialize on the incident row, not corrupt it."""

from __future__ import annotations

import asyncio
import itertools

from bot.auth.actor import Actor, Interface
from bot.db import Database
from bot.incident import flows
from bot.incident.domain import Role, Severity
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from tests.access import OPEN


def _person(n: int) -> Actor:
    return Actor(id=f"U{n}", kind="person", interface=Interface.API)


async def test_concurrent_writers_keep_one_event_per_change(db_url: str) -> None:
    setup = Database(db_url)
    ref = (await flows.declare_incident(setup, IncidentCreate(title="t"), _person(0), authz=OPEN)).ref
    # Separate engines: like two replicas of the bot.
    writers = [Database(db_url) for _ in range(2)]
    try:

        async def work(i: int) -> None:
            db = writers[i % 2]
            await flows.add_note(db, ref, f"note {i}", _person(i), authz=OPEN)
            await flows.assign_role(db, ref, Role.COMMANDER, f"person-{i}", _person(i), authz=OPEN)
            sev = Severity.SEV1 if i % 2 else Severity.SEV2
            await flows.update_incident(db, ref, IncidentUpdate(severity=sev), _person(i), authz=OPEN)

        await asyncio.gather(*(work(i) for i in range(10)))
    finally:
        for w in writers:
            await w.dispose()
    incident = await flows.get_incident(setup, ref)
    events = await flows.get_timeline(setup, ref)
    kinds = [e.kind for e in events]
    assert kinds.count("note") == 10
    assert kinds.count("role_assigned") == 1
    assert kinds.count("role_assigned") + kinds.count("role_handover") == 10
    # Each hand-over names the previous holder correctly: the chain is unbroken.
    holders = [e.data["assignee"] for e in events if e.kind.startswith("role_")]
    previous = [e.data["previous"] for e in events if e.kind.startswith("role_")]
    assert previous == [None, *holders[:-1]]
    assert incident.roles["commander"].assignee == holders[-1]
    # Severity events alternate consistently with the final state.
    sev_events = [e.data for e in events if e.kind == "severity_changed"]
    for before, after in itertools.pairwise(sev_events):
        assert before["to"] == after["from"]
    assert incident.severity.value == (sev_events[-1]["to"] if sev_events else "SEV3")
    await setup.dispose()
