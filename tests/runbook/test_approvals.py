"""Approval rules: level by severity, who may approve (roles, groups, ids), four eyes, two
approvers, expiry, denial, and who may start a run at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.audit.service import list_audit
from bot.auth.actor import SYSTEM, Actor, Interface
from bot.errors import ConflictError, PermissionDeniedError
from bot.incident import flows as incident_flows
from bot.incident.domain import Role, Severity
from bot.runbook import flows
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, BOB, CAROL, DAVE, WriteRunbook, declare, events, make_runtime

GUARDED = """
approval:
  required: one
  by_severity: {SEV1: none}
  approvers: ["role:commander", "@ml-leads", "U-erin"]
inputs:
  key: {default: k}
steps:
  - {id: set, action: test.set, with: {key: "{{ inputs.key }}", value: 1}}
"""


class Leads:
    """A chat user-group resolver (the Slack layer supplies the real one)."""

    async def members(self, group: str) -> set[str]:
        return {"U-frank"} if group == "@ml-oncall" else set()


@pytest.fixture
async def guarded(rt: Runtime, write_runbook: WriteRunbook) -> Runtime:
    write_runbook("guarded", GUARDED)
    return rt


async def test_the_level_follows_the_incidents_severity(guarded: Runtime) -> None:
    sev1 = await declare(guarded, severity=Severity.SEV1, declarer=SYSTEM)  # as alert routing does
    fast = await flows.start_run(guarded, "guarded", sev1, {"key": "a"}, ALICE)
    assert (fast.status, fast.approvals_required, fast.expires_at) == (RunStatus.PENDING, 0, None)
    sev2 = await declare(guarded, severity=Severity.SEV2)
    slow = await flows.start_run(guarded, "guarded", sev2, {"key": "b"}, ALICE)
    assert (slow.status, slow.approvals_required) == (RunStatus.AWAITING_APPROVAL, 1)
    assert slow.approvers == ["role:commander", "@ml-leads", "U-erin"]
    assert slow.expires_at is not None


async def test_an_approval_request_carries_the_plan(guarded: Runtime, store: Store) -> None:
    store.values["k"] = 0
    incident = await declare(guarded)
    run = await flows.start_run(guarded, "guarded", incident, {}, ALICE)
    [request] = await events(guarded, incident, "runbook_approval_requested")
    assert request["run"] == run.ref and request["approvers"] == run.approvers
    assert request["approvals_required"] == 1 and request["four_eyes"] is True
    assert request["requested_by"] == "alice" and request["expires_at"]
    [step] = request["plan"]
    assert (step["step"], step["summary"], step["target"]) == ("set", "k: 0 → 1", "store:k")
    assert store.applies == []


async def test_four_eyes_the_requester_cannot_approve(guarded: Runtime) -> None:
    incident = await declare(guarded)
    run = await flows.start_run(guarded, "guarded", incident, {}, ALICE)
    with pytest.raises(PermissionDeniedError, match="four eyes: RUN-1 was requested by alice"):
        await flows.approve(guarded, run.ref, ALICE)
    assert not await flows.can_approve(guarded, run.ref, ALICE)
    async with guarded.db.session() as session:
        [refusal] = await list_audit(session, actor=ALICE.id, limit=1)
    assert (refusal.action, refusal.target_id, refusal.details["action"]) == (
        "authz.refused",
        run.ref,
        "runbook.approve",
    )
    assert (await flows.get_run(guarded, run.ref)).status == RunStatus.AWAITING_APPROVAL


async def test_an_approver_by_role_approves_and_the_run_executes(guarded: Runtime, store: Store) -> None:
    incident = await declare(guarded, commander=BOB)
    await incident_flows.assign_role(
        guarded.db, incident, Role.OPERATIONS, ALICE.id, ALICE, authz=guarded.authz
    )
    run = await flows.start_run(guarded, "guarded", incident, {}, ALICE)
    assert await flows.can_approve(guarded, run.ref, BOB)
    approved = await flows.approve(guarded, run.ref, BOB)
    assert approved.status == RunStatus.PENDING
    assert [(a.approver, a.decision) for a in approved.approvals] == [("U-bob", "approved")]
    [event] = await events(guarded, incident, "runbook_approved")
    assert event["approved_by"] == ["bob"] and event["remaining"] == 0
    done = await flows.execute(guarded, run.ref)
    assert done.status == RunStatus.SUCCEEDED and store.values == {"k": 1}


@pytest.mark.parametrize("approver", ["carol", "dave-with-no-role"])
async def test_someone_the_policy_does_not_name_is_refused(guarded: Runtime, approver: str) -> None:
    incident = await declare(guarded)
    run = await flows.start_run(guarded, "guarded", incident, {}, ALICE)
    actor = CAROL if approver == "carol" else DAVE
    with pytest.raises(
        PermissionDeniedError,
        match=rf"{actor.label} may not approve RUN-1 \(allowed: the commander, @ml-leads, U-erin \(the run's",
    ):
        await flows.approve(guarded, run.ref, actor)
    with pytest.raises(PermissionDeniedError, match=f"{actor.label} may not deny RUN-1"):
        await flows.deny(guarded, run.ref, actor, "no")
    assert (await flows.get_run(guarded, run.ref)).approvals == []


async def test_approvers_by_user_id_and_by_group(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("guarded", GUARDED.replace('"@ml-leads"', '"@ml-leads", "@ml-oncall"'))
    runtime = make_runtime(db_url, runbooks_dir, store, approver_groups={"@ml-leads": ["U-dave"]})
    try:
        erin = Actor(id="U-erin", kind="person", interface=Interface.SLACK)
        frank = Actor(id="U-frank", kind="person", interface=Interface.SLACK)
        run = await flows.start_run(runtime, "guarded", await declare(runtime), {"key": "k"}, ALICE)
        assert not await flows.can_approve(runtime, run.ref, frank)  # no chat groups: not in it
        await flows.cancel(runtime, run.ref, ALICE)
        runtime.authz.chat_groups = Leads()  # as the Slack layer's user groups would answer
        for i, approver in enumerate((DAVE, erin, frank)):
            run = await flows.start_run(runtime, "guarded", await declare(runtime), {"key": f"k{i}"}, ALICE)
            assert await flows.can_approve(runtime, run.ref, approver)
            assert (await flows.approve(runtime, run.ref, approver)).status == RunStatus.PENDING
    finally:
        await runtime.db.dispose()


async def test_two_approvers(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("double", GUARDED.replace("required: one", "required: two").replace("{SEV1: none}", "{}"))
    incident = await declare(rt, commander=BOB)
    await incident_flows.assign_role(rt.db, incident, Role.OPERATIONS, ALICE.id, ALICE, authz=rt.authz)
    run = await flows.start_run(rt, "double", incident, {}, ALICE)
    assert run.approvals_required == 2
    first = await flows.approve(rt, run.ref, BOB)
    assert first.status == RunStatus.AWAITING_APPROVAL
    with pytest.raises(ConflictError, match="bob has already approved RUN-1"):
        await flows.approve(rt, run.ref, BOB)
    assert (await flows.approvers_for(rt, run.ref)).remaining == 1
    erin = Actor(id="U-erin", kind="person", interface=Interface.API, name="erin")
    second = await flows.approve(rt, run.ref, erin)
    assert second.status == RunStatus.PENDING
    approvers = await flows.approvers_for(rt, run.ref)
    assert (approvers.approved_by, approvers.remaining) == (["U-bob", "U-erin"], 0)


async def test_without_four_eyes_the_requester_may_approve(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("self", GUARDED.replace("required: one", "required: one\n  four_eyes: false"))
    run = await flows.start_run(rt, "self", await declare(rt), {}, ALICE)
    assert (await flows.approve(rt, run.ref, ALICE)).status == RunStatus.PENDING


async def test_approvals_expire(rt: Runtime, store: Store, write_runbook: WriteRunbook) -> None:
    write_runbook("quick", GUARDED.replace("required: one", "required: one\n  expires_after: 300ms"))
    incident = await declare(rt, commander=BOB)
    await incident_flows.assign_role(rt.db, incident, Role.OPERATIONS, ALICE.id, ALICE, authz=rt.authz)
    first = await flows.start_run(rt, "quick", incident, {}, ALICE)
    assert first.locks == ["store:k"]
    await asyncio.sleep(0.4)
    with pytest.raises(ConflictError, match="the approval request of RUN-1 expired at") as info:
        await flows.approve(rt, first.ref, BOB)
    assert info.value.hint == "request the run again"
    expired = await flows.get_run(rt, first.ref)
    assert (expired.status, expired.end_reason, expired.locks) == (
        RunStatus.CANCELLED,
        "approval_expired",
        [],
    )
    second = await flows.start_run(rt, "quick", incident, {}, ALICE)
    await asyncio.sleep(0.4)
    assert await flows.expire_due(rt) == [second.ref]
    assert (await flows.get_run(rt, second.ref)).status == RunStatus.CANCELLED
    assert len(await events(rt, incident, "runbook_approval_expired")) == 2
    assert store.applies == []


async def test_a_denied_run_ends_with_the_reason(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("guarded", GUARDED)
    incident = await declare(rt, commander=BOB)
    await incident_flows.assign_role(rt.db, incident, Role.OPERATIONS, ALICE.id, ALICE, authz=rt.authz)
    run = await flows.start_run(rt, "guarded", incident, {}, ALICE)
    denied = await flows.deny(rt, run.ref, BOB, "the canary is fine")
    assert (denied.status, denied.end_reason, denied.ended_by, denied.error) == (
        RunStatus.CANCELLED,
        "denied",
        "bob",
        "the canary is fine",
    )
    assert denied.locks == [] and [s.status for s in denied.steps] == ["skipped"]
    [event] = await events(rt, incident, "runbook_denied")
    assert event["denied_by"] == "bob" and event["error"] == "the canary is fine"
    with pytest.raises(ConflictError, match="RUN-1 is cancelled, not awaiting approval"):
        await flows.approve(rt, run.ref, BOB)
    assert store.applies == []


async def test_who_may_start_a_run(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("guarded", GUARDED)
    write_runbook("open", GUARDED.replace("approval:", 'run_by: ["*"]\napproval:'))
    incident = await declare(rt)
    with pytest.raises(PermissionDeniedError, match="carol may not run runbook guarded") as info:
        await flows.start_run(rt, "guarded", incident, {}, CAROL)
    assert info.value.hint == (
        "allowed: the commander, the operations (the runbook's run_by, else permissions.run_runbooks)"
    )
    assert (await flows.start_run(rt, "open", incident, {}, CAROL)).status == RunStatus.AWAITING_APPROVAL
    # An API token is bound by run_by too: "*" or its own token:<name> (tokens hold no roles).
    token = Actor(id="token:ci", kind="token", interface=Interface.API, name="ci")
    with pytest.raises(PermissionDeniedError, match="ci may not run runbook guarded"):
        await flows.start_run(rt, "guarded", incident, {}, token)
    write_runbook("for-ci", GUARDED.replace("approval:", 'run_by: ["token:ci"]\napproval:'))
    await flows.cancel(rt, "RUN-1", ALICE)
    assert (await flows.start_run(rt, "for-ci", incident, {}, token)).requested_by == "token:ci"
    with pytest.raises(PermissionDeniedError, match="carol may not run runbook for-ci"):
        await flows.start_run(rt, "for-ci", incident, {}, CAROL)
    async with rt.db.session() as session:
        actions = [e.details.get("action") for e in await list_audit(session, actor=CAROL.id)]
        by_token = [e.details.get("action") for e in await list_audit(session, actor="token:ci")]
    assert actions.count("runbook.run") == 2 and by_token.count("runbook.run") == 1
