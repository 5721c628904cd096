"""How many approvals a run needs: the floor of the safe defaults, severities the requester set
do not lower it, the level only goes up, and an undo follows the run's approval policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.auth.actor import SYSTEM, Actor, Interface
from bot.errors import ConflictError, PermissionDeniedError
from bot.incident import flows as incident_flows
from bot.incident.domain import Role, Severity
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from bot.runbook import flows
from bot.runbook.states import Phase, RunStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import WriteRunbook, events, make_runtime, runbooks_dir, store, write_runbook

__all__ = ["runbooks_dir", "store", "write_runbook"]

FAST_AT_SEV1 = """
inputs:
  key: {default: k}
approval: {required: one, by_severity: {SEV1: none, SEV4: two}}
steps:
  - {id: set, action: test.set, with: {key: "{{ inputs.key }}", value: 1}}
"""
READ_ONLY = """
steps:
  - {id: look, action: test.read, with: {key: k}}
"""


def person(name: str) -> Actor:
    return Actor(id=name, kind="person", interface=Interface.SLACK, name=name)


OPS, LEAD, OTHER = person("ops"), person("lead"), person("other")
TOKEN = Actor(id="token:ci", kind="token", interface=Interface.API, name="ci")


@pytest.fixture
def permissions() -> dict[str, Any]:
    return {"runs_without_approval": ["fast"], "change_severity": ["*"]}


@pytest.fixture
async def rt(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook, permissions: dict[str, Any]
) -> AsyncIterator[Runtime]:
    write_runbook("fast", FAST_AT_SEV1)
    write_runbook("slow", FAST_AT_SEV1)  # the same policy, not opted in
    write_runbook("look", READ_ONLY)
    runtime = make_runtime(
        db_url, runbooks_dir, store, permissions={**permissions, "approve_runbooks": ["*"]}
    )
    yield runtime
    await runtime.db.dispose()


async def incident(rt: Runtime, severity: Severity, declarer: Actor = SYSTEM) -> str:
    data = IncidentCreate(title="drift", severity=severity, responders=["ops", "lead", "other"])
    ref = (await incident_flows.declare_incident(rt.db, data, declarer, authz=rt.authz)).ref
    await incident_flows.assign_role(rt.db, ref, Role.COMMANDER, "lead", SYSTEM, authz=rt.authz)
    await incident_flows.assign_role(rt.db, ref, Role.OPERATIONS, "ops", SYSTEM, authz=rt.authz)
    return ref


async def severity(rt: Runtime, ref: str, to: Severity, who: Actor) -> None:
    await incident_flows.update_incident(rt.db, ref, IncidentUpdate(severity=to), who, authz=rt.authz)


async def test_a_run_that_changes_systems_needs_an_approval_unless_opted_in(rt: Runtime) -> None:
    ref = await incident(rt, Severity.SEV1)
    slow = await flows.start_run(rt, "slow", ref, {}, OPS)
    assert (slow.approvals_required, slow.four_eyes) == (1, True)
    [asked] = await events(rt, ref, "runbook_approval_requested")
    assert asked["approval_reason"] == (
        "a run that changes systems needs an approval unless permissions.runs_without_approval lists slow"
    )
    await flows.cancel(rt, slow.ref, OPS)
    assert (await flows.start_run(rt, "fast", ref, {}, OPS)).approvals_required == 0
    assert (await flows.start_run(rt, "look", ref, {}, OPS)).approvals_required == 0  # changes nothing


@pytest.mark.parametrize(
    ("set_by", "needs"),
    [
        (SYSTEM, 0),  # alert routing
        (LEAD, 0),  # another person allowed to change severity
        (OPS, 1),  # the requester: the level of the severity before their change
        (TOKEN, 1),  # an API token is no one who vouches for it
    ],
)
async def test_who_raised_the_severity_decides_whether_it_lowers_the_approval(
    rt: Runtime, set_by: Actor, needs: int
) -> None:
    ref = await incident(rt, Severity.SEV3)
    await severity(rt, ref, Severity.SEV1, set_by)
    plan = await flows.plan_run(rt, "fast", ref, {}, OPS)
    run = await flows.start_run(rt, "fast", ref, {}, OPS)
    assert plan.approval.approvals_required == run.approvals_required == needs
    if needs:
        assert plan.approval.reason == (
            "the incident's severity SEV1 was not set by alert routing or by another person, so the level "
            "at SEV3 applies"
        )


async def test_an_incident_the_requester_declared_uses_the_runbooks_required_level(rt: Runtime) -> None:
    ref = await incident(rt, Severity.SEV1, declarer=OPS)
    assert (await flows.start_run(rt, "fast", ref, {}, OPS)).approvals_required == 1
    other = await incident(rt, Severity.SEV1, declarer=LEAD)
    assert (await flows.start_run(rt, "fast", other, {"key": "x"}, OPS)).approvals_required == 0


async def test_changes_after_a_trusted_severity_do_not_count_for_their_author(rt: Runtime) -> None:
    ref = await incident(rt, Severity.SEV3)
    await severity(rt, ref, Severity.SEV2, OPS)
    await severity(rt, ref, Severity.SEV1, LEAD)  # vouched for by someone else
    await severity(rt, ref, Severity.SEV2, OPS)
    await severity(rt, ref, Severity.SEV1, OPS)
    assert (await flows.start_run(rt, "fast", ref, {}, OPS)).approvals_required == 0  # lead's SEV1
    # For lead, ops is someone else: ops's SEV1 counts when lead asks.
    assert (await flows.plan_run(rt, "fast", ref, {}, LEAD)).approval.approvals_required == 0


async def test_the_level_is_fixed_at_request_and_only_goes_up(rt: Runtime) -> None:
    ref = await incident(rt, Severity.SEV3)
    run = await flows.start_run(rt, "slow", ref, {}, OPS)
    assert run.approvals_required == 1
    await severity(rt, ref, Severity.SEV1, LEAD)  # would need none now: the run keeps its one
    await severity(rt, ref, Severity.SEV4, LEAD)  # needs two now: the run needs two
    first = await flows.approve(rt, run.ref, LEAD)
    assert (first.status, first.approvals_required) == (RunStatus.AWAITING_APPROVAL, 2)
    [approved] = await events(rt, ref, "runbook_approved")
    assert approved["approvals_required"] == 2 and approved["remaining"] == 1
    await severity(rt, ref, Severity.SEV1, LEAD)
    second = await flows.approve(rt, run.ref, OTHER)
    assert (second.status, second.approvals_required) == (RunStatus.PENDING, 2)


async def test_an_undo_waits_for_the_approval_its_run_needed(rt: Runtime, store: Store) -> None:
    ref = await incident(rt, Severity.SEV3)
    run = await flows.start_run(rt, "slow", ref, {}, OPS)
    await flows.approve(rt, run.ref, LEAD)
    done = await flows.execute(rt, run.ref, poll_s=0.02)
    assert done.status == RunStatus.SUCCEEDED and store.values["k"] == 1
    asked = await flows.undo(rt, run.ref, OPS)
    assert (asked.status, asked.approval_phase, asked.approvals_given) == (
        RunStatus.AWAITING_APPROVAL,
        Phase.UNDO,
        0,
    )
    assert asked.locks == ["store:k"] and store.values["k"] == 1
    with pytest.raises(PermissionDeniedError, match="four eyes: the undo of RUN-1 was requested by ops"):
        await flows.approve(rt, run.ref, OPS)
    assert await flows.can_approve(rt, run.ref, LEAD)
    undoing = await flows.approve(rt, run.ref, LEAD)  # lead approved the run, and now its undo
    assert undoing.status == RunStatus.UNDOING
    assert [(a.phase, a.approver) for a in undoing.approvals] == [(Phase.DO, "lead"), (Phase.UNDO, "lead")]
    undone = await flows.execute(rt, run.ref, poll_s=0.02)
    assert undone.status == RunStatus.UNDONE and store.values["k"] is None


@pytest.mark.parametrize("end", ["deny", "cancel", "expire"])
async def test_an_undo_not_approved_leaves_the_run_as_it_ended(
    rt: Runtime, store: Store, write_runbook: WriteRunbook, end: str
) -> None:
    write_runbook("brief", FAST_AT_SEV1.replace("{required: one,", "{required: one, expires_after: 200ms,"))
    ref = await incident(rt, Severity.SEV3)
    run = await flows.start_run(rt, "brief", ref, {}, OPS)
    await flows.approve(rt, run.ref, LEAD)
    await flows.execute(rt, run.ref, poll_s=0.02)
    await flows.undo(rt, run.ref, OPS)
    if end == "deny":
        await flows.deny(rt, run.ref, LEAD, "leave it")
    elif end == "cancel":
        await flows.cancel(rt, run.ref, OPS)
    else:
        await asyncio.sleep(0.3)
        with pytest.raises(ConflictError, match="the approval request of the undo of RUN-1 expired"):
            await flows.approve(rt, run.ref, LEAD)
    after = await flows.get_run(rt, run.ref)
    assert (after.status, after.approval_phase, after.locks, after.end_reason) == (
        RunStatus.SUCCEEDED,
        Phase.DO,
        [],
        None,
    )
    assert store.values["k"] == 1
    again = await flows.undo(rt, run.ref, OPS)  # may be asked again
    assert again.status == RunStatus.AWAITING_APPROVAL


async def test_an_opted_in_run_is_undone_at_once(rt: Runtime, store: Store) -> None:
    ref = await incident(rt, Severity.SEV1)
    run = await flows.execute(rt, (await flows.start_run(rt, "fast", ref, {}, OPS)).ref, poll_s=0.02)
    assert run.approvals_required == 0
    assert (await flows.undo(rt, run.ref, OPS)).status == RunStatus.UNDOING
