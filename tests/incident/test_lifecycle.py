"""Lifecycle rules of the incident service: transitions, milestones, one event per change."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.audit.service import list_audit
from bot.auth.actor import Actor, Interface
from bot.db import Database
from bot.errors import IllegalTransitionError, NotFoundError
from bot.incident import flows, service, timeline
from bot.incident.domain import TRANSITIONS, Severity, Status
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from tests.access import OPEN

ALICE = Actor(id="U_ALICE", kind="person", interface=Interface.SLACK, name="alice")


async def _declare(db: Database, **kw: object) -> str:
    data = IncidentCreate(title="fraud-detector error rate", severity=Severity.SEV2, **kw)  # type: ignore[arg-type]
    return (await flows.declare_incident(db, data, ALICE, authz=OPEN)).ref


async def _event_kinds(db: Database, ref: str) -> list[str]:
    return [e.kind for e in await flows.get_timeline(db, ref)]


async def test_declare_records_one_event_and_milestones(db: Database) -> None:
    ref = await _declare(db, models=["fraud-detector"], labels={"team": "risk"})
    incident = await flows.get_incident(db, ref)
    assert ref == "INC-1"
    assert incident.status == Status.TRIGGERED
    assert incident.declared_by == "alice"
    assert incident.detected_at is not None and incident.declared_at is not None
    assert incident.acknowledged_at is None and incident.resolved_at is None
    assert await _event_kinds(db, ref) == ["declared"]


async def test_full_lifecycle_sets_each_milestone_once(db: Database) -> None:
    ref = await _declare(db)
    for new in (Status.INVESTIGATING, Status.IDENTIFIED, Status.MITIGATED, Status.RESOLVED, Status.CLOSED):
        await flows.update_incident(db, ref, IncidentUpdate(status=new), ALICE, authz=OPEN)
    incident = await flows.get_incident(db, ref)
    assert incident.status == Status.CLOSED
    stamps = [incident.acknowledged_at, incident.mitigated_at, incident.resolved_at, incident.closed_at]
    assert all(s is not None for s in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert await _event_kinds(db, ref) == ["declared"] + ["status_changed"] * 5
    assert incident.allowed_transitions == []


@pytest.mark.parametrize(
    ("current", "new"),
    [(c, n) for c in Status for n in Status if n != c and n not in TRANSITIONS[c]],
)
def test_transition_table_refuses(current: Status, new: Status) -> None:
    assert new not in TRANSITIONS[current]


async def test_closing_an_unresolved_incident_is_refused_and_names_allowed(db: Database) -> None:
    ref = await _declare(db)
    await flows.update_incident(db, ref, IncidentUpdate(status=Status.INVESTIGATING), ALICE, authz=OPEN)
    with pytest.raises(IllegalTransitionError) as err:
        await flows.update_incident(db, ref, IncidentUpdate(status=Status.CLOSED), ALICE, authz=OPEN)
    assert err.value.context["allowed"] == ["identified", "mitigated", "resolved"]
    assert "investigating" in err.value.message and "closed" in err.value.message
    # nothing written by the refused change
    assert await _event_kinds(db, ref) == ["declared", "status_changed"]


async def test_reopen_is_recorded_and_clears_resolution(db: Database) -> None:
    ref = await _declare(db)
    await flows.update_incident(db, ref, IncidentUpdate(status=Status.RESOLVED), ALICE, authz=OPEN)
    resolved = await flows.get_incident(db, ref)
    assert resolved.resolved_at is not None and resolved.mitigated_at is not None
    reopened = await flows.update_incident(
        db, ref, IncidentUpdate(status=Status.INVESTIGATING, reason="errors are back"), ALICE, authz=OPEN
    )
    assert reopened.status == Status.INVESTIGATING
    assert reopened.resolved_at is None
    assert reopened.mitigated_at == resolved.mitigated_at
    events = await flows.get_timeline(db, ref)
    assert events[-1].kind == "reopened"
    assert "errors are back" in events[-1].text


async def test_closed_is_final(db: Database) -> None:
    ref = await _declare(db)
    for new in (Status.RESOLVED, Status.CLOSED):
        await flows.update_incident(db, ref, IncidentUpdate(status=new), ALICE, authz=OPEN)
    with pytest.raises(IllegalTransitionError) as err:
        await flows.update_incident(db, ref, IncidentUpdate(status=Status.INVESTIGATING), ALICE, authz=OPEN)
    assert err.value.context["allowed"] == []


async def test_every_change_leaves_exactly_one_event_and_noops_none(db: Database) -> None:
    ref = await _declare(db)
    changes = [
        IncidentUpdate(severity=Severity.SEV1),
        IncidentUpdate(severity=Severity.SEV1),  # no change → no event
        IncidentUpdate(title="new title"),
        IncidentUpdate(title="new title"),  # no change
        IncidentUpdate(summary="model rolled out at 03:00"),
        IncidentUpdate(status=Status.INVESTIGATING),
        IncidentUpdate(status=Status.INVESTIGATING),  # no change
    ]
    for change in changes:
        await flows.update_incident(db, ref, change, ALICE, authz=OPEN)
    await flows.add_note(db, ref, "looking at the dashboards", ALICE, authz=OPEN)
    await flows.acknowledge(
        db, ref, ALICE, authz=OPEN
    )  # already acknowledged by the status change → no event
    assert await _event_kinds(db, ref) == [
        "declared",
        "severity_changed",
        "title_changed",
        "summary_changed",
        "status_changed",
        "note",
    ]
    async with db.session() as session:
        audit = await list_audit(session, incident_id=1, limit=100)
    assert len(audit) == 6
    assert {a.interface for a in audit} == {"slack"}
    assert {a.actor for a in audit} == {"U_ALICE"}


async def test_update_is_all_or_nothing(db: Database) -> None:
    ref = await _declare(db)
    with pytest.raises(IllegalTransitionError):
        await flows.update_incident(
            db, ref, IncidentUpdate(severity=Severity.SEV1, status=Status.CLOSED), ALICE, authz=OPEN
        )
    incident = await flows.get_incident(db, ref)
    assert incident.severity == Severity.SEV2  # the severity change was rolled back
    assert await _event_kinds(db, ref) == ["declared"]


async def test_acknowledge_moves_triggered_to_investigating(db: Database) -> None:
    ref = await _declare(db)
    incident = await flows.acknowledge(db, ref, ALICE, authz=OPEN)
    assert incident.status == Status.INVESTIGATING
    assert incident.acknowledged_at is not None


async def test_unknown_incident(db: Database) -> None:
    with pytest.raises(NotFoundError, match="INC-99 does not exist"):
        await flows.get_incident(db, "INC-99")
    with pytest.raises(NotFoundError, match="not an incident reference"):
        await flows.get_incident(db, "fraud")


async def test_timeline_is_append_only_in_the_database(db: Database) -> None:
    ref = await _declare(db)
    for statement in ("UPDATE timeline_event SET text = 'x'", "DELETE FROM timeline_event"):
        with pytest.raises(Exception, match="append-only"):
            async with db.transaction() as session:
                await (await session.connection()).execute(text(statement))
    assert await _event_kinds(db, ref) == ["declared"]


async def test_secrets_are_redacted_on_timeline_and_audit(db: Database) -> None:
    ref = await _declare(db)
    async with db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await timeline.record(
            session,
            incident,
            kind="note",
            text="called the API",
            actor=ALICE,
            data={"url": "http://x", "headers": {"Authorization": "Bearer s3cr3t"}, "api_key": "k"},
        )
    events = await flows.get_timeline(db, ref)
    assert events[-1].data == {"url": "http://x", "headers": {"Authorization": "***"}, "api_key": "***"}
    async with db.session() as session:
        entries = await list_audit(session, incident_id=1)
    assert "s3cr3t" not in repr([e.details for e in entries])
