"""Undo: inverses of the steps that changed something, last first, recorded like steps."""

from __future__ import annotations

import pytest

from bot.errors import ConflictError, PermissionDeniedError
from bot.runbook import flows
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, CAROL, WriteRunbook, declare, events, timeline_kinds

CHANGES = """
steps:
  - {id: one, action: test.set, with: {key: a, value: 1}}
  - {id: look, action: test.read, with: {key: a}}
  - {id: two, action: test.set, with: {key: b, value: 2}}
  - id: three
    action: test.set
    with: {key: c, value: 3}
    undo:
      action: test.set_other
      with: {key: c, value: "restored from {{ step.before.value }} (was {{ step.after.value }})"}
  - {id: pause, action: wait, with: {duration: 1ms}}
"""


async def test_undo_applies_inverses_last_first(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("changes", CHANGES)
    store.values.update({"a": 0, "c": 0})
    incident = await declare(rt)
    done = await flows.execute(rt, (await flows.start_run(rt, "changes", incident, {}, ALICE)).ref)
    assert done.status == RunStatus.SUCCEEDED
    store.applies.clear()
    asked = await flows.undo(rt, done.ref, ALICE)
    assert (asked.status, asked.undo_requested_by) == (RunStatus.UNDOING, "alice")
    assert [u.step for u in asked.undo_steps] == ["three", "two", "one"]  # read-only steps: nothing to undo
    undone = await flows.execute(rt, done.ref)
    assert undone.status == RunStatus.UNDONE and undone.locks == []
    assert store.applies == [
        ("test.set_other", "c", "restored from 0 (was 3)"),
        ("test.set", "b", None),
        ("test.set", "a", 0),
    ]
    three, _two, one = undone.undo_steps
    assert (three.action, three.before, three.after) == (
        "test.set_other",
        {"value": 3},
        {"value": "restored from 0 (was 3)"},
    )
    assert (one.action, one.params, one.before, one.after) == (
        "test.set",
        {"key": "a", "value": 0},
        {"value": 1},
        {"value": 0},
    )
    assert all(s.status == "succeeded" for s in undone.steps)  # the record of what was done stays
    kinds = await timeline_kinds(rt, incident)
    assert kinds[kinds.index("runbook_succeeded") + 1 :] == [
        "runbook_undo_started",
        "runbook_step_started",
        "runbook_step_undone",
        "runbook_step_started",
        "runbook_step_undone",
        "runbook_step_started",
        "runbook_step_undone",
        "runbook_undone",
    ]
    [started] = await events(rt, incident, "runbook_undo_started")
    assert started["steps"] == ["three", "two", "one"] and started["requested_by"] == "alice"
    with pytest.raises(ConflictError, match="RUN-1 is undone: only a finished run"):
        await flows.undo(rt, done.ref, ALICE)


async def test_a_failed_undo_stops_and_can_be_retried(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("changes", CHANGES)
    incident = await declare(rt)
    done = await flows.execute(rt, (await flows.start_run(rt, "changes", incident, {}, ALICE)).ref)
    store.fail("b", "rejected")
    await flows.undo(rt, done.ref, ALICE)
    failed = await flows.execute(rt, done.ref)
    assert failed.status == RunStatus.FAILED
    assert failed.error is not None and failed.error.startswith("undo of step two: store refuses b")
    assert [(u.step, u.status) for u in failed.undo_steps] == [
        ("three", "succeeded"),
        ("two", "failed"),
        ("one", "pending"),
    ]
    assert store.values["a"] == 1  # step one is not undone past a failure
    [event] = await events(rt, incident, "runbook_undo_failed")
    assert event["not_undone"] == ["two", "one"]
    assert failed.locks == []
    again = await flows.undo(rt, done.ref, ALICE)
    assert [u.step for u in again.undo_steps if u.status == "pending"] == ["two", "one"]
    undone = await flows.execute(rt, done.ref)
    assert undone.status == RunStatus.UNDONE
    assert store.values == {"a": None, "b": None, "c": "restored from None (was 3)"}


async def test_nothing_to_undo(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("reads", "steps:\n  - {id: look, action: test.read, with: {key: a}}\n")
    run = await flows.execute(rt, (await flows.start_run(rt, "reads", await declare(rt), {}, ALICE)).ref)
    with pytest.raises(ConflictError, match="RUN-1 changed nothing that is not undone already"):
        await flows.undo(rt, run.ref, ALICE)


async def test_only_finished_runs_and_allowed_people(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("changes", CHANGES)
    incident = await declare(rt)
    pending = await flows.start_run(rt, "changes", incident, {}, ALICE)
    with pytest.raises(ConflictError, match="RUN-1 is pending: only a finished run"):
        await flows.undo(rt, pending.ref, ALICE)
    await flows.execute(rt, pending.ref)
    with pytest.raises(PermissionDeniedError, match="carol may not undo RUN-1"):
        await flows.undo(rt, pending.ref, CAROL)


async def test_a_step_whose_state_held_a_secret_is_not_restored_blindly(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook(
        "secret",
        """
        inputs:
          token: {secret: true}
        steps:
          - {id: one, action: test.set, with: {key: a, value: "{{ inputs.token }}"}}
          - {id: two, action: test.set, with: {key: a, value: plain}}
        """,
    )
    incident = await declare(rt)
    done = await flows.execute(
        rt, (await flows.start_run(rt, "secret", incident, {"token": "tok-98765"}, ALICE)).ref
    )
    assert done.steps[1].before == {"value": "***"}
    await flows.undo(rt, done.ref, ALICE)
    failed = await flows.execute(rt, done.ref)
    assert failed.status == RunStatus.FAILED
    assert failed.undo_steps[0].error is not None
    assert failed.undo_steps[0].error.startswith(
        "cannot undo step two: the state it found holds a secret input"
    )
    assert store.values["a"] == "plain"
