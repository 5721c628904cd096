"""The engine with in-process test actions: durable steps, retries with backoff, timeouts,
failure policies, templates between steps, secrets, cancellation."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.audit.service import list_audit
from bot.incident import flows as incident_flows
from bot.runbook import flows
from bot.runbook.states import RunStatus, StepStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, WriteRunbook, declare, events, eventually, timeline_kinds

THREE_STEPS = """
inputs:
  value: {default: v2}
steps:
  - id: first
    action: test.set
    with: {key: a, value: "{{ inputs.value }}"}
  - id: second
    action: test.set
    with: {key: b, value: "after {{ steps.first.before.value }} came {{ steps.first.after.value }}"}
    retries: {max: 2, backoff: 50ms, factor: 2}
  - id: check
    action: test.read
    with: {key: a}
"""


async def test_a_run_executes_every_step_and_records_it(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("three", THREE_STEPS)
    store.values["a"] = "v1"
    incident = await declare(rt)
    requested = await flows.start_run(rt, "three", incident, {}, ALICE)
    assert requested.status == RunStatus.PENDING
    assert requested.locks == ["store:a"]  # step second depends on step first: locked when it starts
    run = await flows.execute(rt, requested.ref)
    assert run.status == RunStatus.SUCCEEDED
    assert store.values == {"a": "v2", "b": "after v1 came v2"}
    first, second, check = run.steps
    assert (first.status, first.before, first.after, first.attempts) == (
        "succeeded",
        {"value": "v1"},
        {"value": "v2"},
        1,
    )
    assert first.params == {"key": "a", "value": "v2"}
    assert first.planned == {"current": {"value": "v1"}, "intended": {"value": "v2"}, "summary": "a: v1 → v2"}
    assert second.summary == "b: None → after v1 came v2"
    assert check.after == {"value": "v2"} and check.target == "store:a"
    assert run.started_at is not None and run.finished_at is not None and run.locks == []
    assert await timeline_kinds(rt, incident) == [
        "runbook_requested",
        "runbook_started",
        "runbook_step_started",
        "runbook_step_succeeded",
        "runbook_step_started",
        "runbook_step_succeeded",
        "runbook_step_started",
        "runbook_step_succeeded",
        "runbook_succeeded",
    ]
    done = (await events(rt, incident, "runbook_step_succeeded"))[0]
    assert done == {
        "run": run.ref,
        "runbook": "three",
        "step": "first",
        "phase": "do",
        "action": "test.set",
        "target": "store:a",
        "summary": "a: v1 → v2",
        "before": {"value": "v1"},
        "after": {"value": "v2"},
        "changed": True,
        "attempts": 1,
    }


async def test_retryable_failures_are_retried_with_backoff(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("three", THREE_STEPS)
    store.fail("b", "retryable", "retryable")
    incident = await declare(rt)
    started = time.monotonic()
    run = await flows.execute(rt, (await flows.start_run(rt, "three", incident, {}, ALICE)).ref)
    elapsed = time.monotonic() - started
    assert run.status == RunStatus.SUCCEEDED
    assert run.steps[1].attempts == 3
    retries = await events(rt, incident, "runbook_step_retrying")
    assert [(r["attempt"], r["delay_s"]) for r in retries] == [(1, 0.05), (2, 0.1)]
    assert "store unavailable for b" in retries[0]["error"]
    assert elapsed >= 0.15
    assert store.applied("b") == ["after None came v2"]


async def test_retries_run_out(rt: Runtime, store: Store, write_runbook: WriteRunbook) -> None:
    write_runbook("three", THREE_STEPS)
    store.fail("b", "retryable", "retryable", "retryable")
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "three", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and run.error.startswith("step second: store unavailable for b")
    assert [s.status for s in run.steps] == ["succeeded", "failed", "skipped"]
    assert len(await events(rt, incident, "runbook_step_retrying")) == 2
    assert store.values == {"a": "v2"}  # what succeeded stays (on_failure: stop)
    assert run.locks == []


@pytest.mark.parametrize("kind", ["rejected", "boom"])
async def test_refusals_and_bugs_are_not_retried(
    rt: Runtime, store: Store, write_runbook: WriteRunbook, kind: str
) -> None:
    write_runbook("three", THREE_STEPS)
    store.fail("b", kind)
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "three", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert await events(rt, incident, "runbook_step_retrying") == []
    expected = "store refuses b" if kind == "rejected" else "RuntimeError: unexpected failure on b"
    assert run.steps[1].error is not None and run.steps[1].error.startswith(expected)


TIMED = """
steps:
  - id: slow
    action: test.set
    with: {key: k, value: 1}
    timeout: 200ms
    retries: {max: 1, backoff: 10ms}
"""


async def test_a_timeout_before_the_change_is_retried(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("timed", TIMED)
    store.delays["k"] = [2.0]
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "timed", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.SUCCEEDED
    assert run.steps[0].attempts == 2
    [retry] = await events(rt, incident, "runbook_step_retrying")
    assert retry["error"] == "timed out after 0.2s"
    assert store.applied("k") == [1]


async def test_a_step_whose_change_landed_before_the_timeout_is_not_applied_again(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("timed", TIMED)
    store.hangs["k"] = [2.0]
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "timed", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.SUCCEEDED
    step = run.steps[0]
    assert (step.before, step.after, step.attempts) == ({"value": None}, {"value": 1}, 1)
    assert store.applied("k") == [1]  # re-planned: the target was reached, no second apply
    [done] = await events(rt, incident, "runbook_step_succeeded")
    assert done["recovered"] is True


async def test_timeouts_run_out(rt: Runtime, store: Store, write_runbook: WriteRunbook) -> None:
    write_runbook("timed", TIMED)
    store.delays["k"] = [2.0, 2.0]
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "timed", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert run.steps[0].error == "timed out after 0.2s"
    assert store.applied("k") == []


POLICIES = """
steps:
  - id: one
    action: test.set
    with: {key: a, value: 1}
  - id: two
    action: test.set
    with: {key: b, value: 2}
  - id: three
    action: test.set
    with: {key: c, value: 3}
    on_failure: {policy}
  - id: four
    action: test.set
    with: {key: d, value: 4}
"""


async def test_on_failure_stop(rt: Runtime, store: Store, write_runbook: WriteRunbook) -> None:
    write_runbook("policies", POLICIES.replace("{policy}", "stop"))
    store.fail("c", "rejected")
    run = await flows.execute(rt, (await flows.start_run(rt, "policies", await declare(rt), {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert [s.status for s in run.steps] == ["succeeded", "succeeded", "failed", "skipped"]
    assert store.values == {"a": 1, "b": 2}


async def test_on_failure_continue(rt: Runtime, store: Store, write_runbook: WriteRunbook) -> None:
    write_runbook("policies", POLICIES.replace("{policy}", "continue"))
    store.fail("c", "rejected")
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "policies", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.SUCCEEDED
    assert [s.status for s in run.steps] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert store.values == {"a": 1, "b": 2, "d": 4}
    [done] = await events(rt, incident, "runbook_succeeded")
    assert done["failed_steps"] == ["three"]


async def test_on_failure_undo_reverts_what_succeeded_last_first(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("policies", POLICIES.replace("{policy}", "undo"))
    store.values.update({"a": 0, "b": 0})
    store.fail("c", "rejected")
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "policies", incident, {}, ALICE)).ref)
    assert run.status == RunStatus.UNDONE
    assert run.error is not None and run.error.startswith("step three: store refuses c")
    assert store.values == {"a": 0, "b": 0}
    assert store.applies == [
        ("test.set", "a", 1),
        ("test.set", "b", 2),
        ("test.set", "b", 0),
        ("test.set", "a", 0),
    ]
    # Step three failed in apply (its outcome unknown): its undo found it unchanged.
    assert [(u.step, u.status) for u in run.undo_steps] == [
        ("three", "succeeded"),
        ("two", "succeeded"),
        ("one", "succeeded"),
    ]
    assert run.undo_steps[0].summary == "c: None → None"
    assert run.steps[3].status == StepStatus.SKIPPED
    assert (await timeline_kinds(rt, incident))[-9:] == [
        "runbook_step_failed",
        "runbook_failed",
        "runbook_undo_started",
        "runbook_step_undone",  # three: found unchanged, nothing applied
        "runbook_step_started",
        "runbook_step_undone",
        "runbook_step_started",
        "runbook_step_undone",
        "runbook_undone",
    ]


async def test_a_template_error_at_run_time_names_file_step_and_field(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook(
        "late",
        """
        steps:
          - {id: one, action: test.read, with: {key: a}}
          - {id: two, action: test.set, with: {key: b, value: "{{ steps.one.after.colour }}"}}
        """,
    )
    run = await flows.execute(rt, (await flows.start_run(rt, "late", await declare(rt), {}, ALICE)).ref)
    assert run.status == RunStatus.FAILED
    assert run.steps[1].error is not None
    assert run.steps[1].error.startswith(
        "runbook late, step two, field with.value: 'dict object' has no attribute 'colour'"
    )


SECRET = """
inputs:
  token: {secret: true}
steps:
  - {id: one, action: test.set, with: {key: a, value: "Bearer {{ inputs.token }}"}}
"""


async def test_secret_inputs_reach_the_action_but_no_record(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("secret", SECRET)
    write_runbook("guarded-secret", "approval: {required: one}\n" + SECRET)
    incident = await declare(rt)
    plan = await flows.plan_run(rt, "secret", incident, {"token": "tok-123456"}, ALICE)
    assert plan.steps[0].summary == "a: None → Bearer ***"
    waiting = await flows.start_run(rt, "guarded-secret", incident, {"token": "tok-123456"}, ALICE)
    await flows.cancel(rt, waiting.ref, ALICE)
    requested = await flows.start_run(rt, "secret", incident, {"token": "tok-123456"}, ALICE)
    assert requested.inputs == {"token": "***"}
    run = await flows.execute(rt, requested.ref)
    assert store.values["a"] == "Bearer tok-123456"
    assert run.steps[0].params == {"key": "a", "value": "Bearer ***"}
    recorded = [e.model_dump_json() for e in await incident_flows.get_timeline(rt.db, incident)]
    assert not any("tok-123456" in e for e in recorded)
    assert "tok-123456" not in run.model_dump_json()
    async with rt.db.session() as session:
        audited = [json.dumps(e.details) for e in await list_audit(session, limit=1000)]
    assert len(audited) > 10 and not any("tok-123456" in e for e in audited)


async def test_cancel_stops_a_running_run_at_a_wait(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook(
        "waits",
        """
        steps:
          - {id: one, action: test.set, with: {key: a, value: 1}}
          - {id: pause, action: wait, with: {duration: 30s, reason: let traffic settle}}
          - {id: two, action: test.set, with: {key: b, value: 2}}
        """,
    )
    incident = await declare(rt)
    ref = (await flows.start_run(rt, "waits", incident, {}, ALICE)).ref
    execution = asyncio.create_task(flows.execute(rt, ref))

    async def waiting() -> bool:
        return (await flows.get_run(rt, ref)).steps[1].status == StepStatus.RUNNING

    await eventually(waiting)
    asked = await flows.cancel(rt, ref, ALICE)
    assert asked.status == RunStatus.RUNNING and asked.cancel_requested_by == "alice"
    run = await asyncio.wait_for(execution, 10)
    assert run.status == RunStatus.CANCELLED
    assert (run.end_reason, run.ended_by) == ("cancelled", "alice")
    assert [s.status for s in run.steps] == ["succeeded", "failed", "skipped"]
    assert store.values == {"a": 1}
    assert "runbook_cancel_requested" in await timeline_kinds(rt, incident)


async def test_the_timeline_tells_a_step_starting_from_a_step_done(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("three", THREE_STEPS)
    store.values["a"] = "v1"
    incident = await declare(rt)
    run = await flows.execute(rt, (await flows.start_run(rt, "three", incident, {}, ALICE)).ref)
    timeline = await incident_flows.get_timeline(rt.db, incident)
    started = [e.text for e in timeline if e.kind == "runbook_step_started"]
    done = [e.text for e in timeline if e.kind == "runbook_step_succeeded"]
    # A change plans and applies the same summary: the texts must still differ.
    assert started[0] == f"{run.ref} step first started: a: v1 → v2"
    assert done[0] == f"{run.ref} step first succeeded: a: v1 → v2"
    assert not set(started) & set(done)
