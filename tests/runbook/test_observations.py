"""Observations (metric checks, waits) are never "already in place": interrupted halfway (Ctrl-C
on the CLI, a restart, a crash, another worker taking the run over), they run their whole window
again on resume, and the timeline says so."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.runbook import flows
from bot.runbook.engine import Engine
from bot.runbook.states import RunStatus, StepStatus
from bot.runtime import Runtime
from integrations.base import ActionKind
from tests.runbook.actions import Store, make_registry
from tests.runbook.conftest import ALICE, WriteRunbook, declare, events, eventually

WINDOW_S = 1.5
VERIFIED = f"""
steps:
  - id: change
    action: test.set
    with: {{key: alias, value: v1}}
  - id: verify
    action: metrics.wait_until
    with: {{expr: error_rate, op: "<", threshold: 0.05, for_s: {WINDOW_S}, interval_s: 0.1, timeout_s: 30}}
"""
WAITS = """
steps:
  - id: settle
    action: wait
    with: {duration: 1.5}
"""


async def _interrupt_during(rt: Runtime, ref: str, step: str) -> None:
    """Run ``ref`` in a task, let ``step`` start, then cancel it (Ctrl-C, a shutdown)."""
    engine = Engine(rt.db, rt.actions, rt.settings.runbooks, worker_id="first")
    task = asyncio.create_task(engine.run(int(ref.removeprefix("RUN-"))))

    async def started() -> bool:
        run = await flows.get_run(rt, ref)
        return any(s.step == step and s.status == StepStatus.RUNNING for s in run.steps)

    await eventually(started)
    await asyncio.sleep(0.5)  # well into the window
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_observations_are_their_own_kind() -> None:
    actions = make_registry(Store())
    assert actions.get("metrics.wait_until").kind == ActionKind.OBSERVATION
    assert actions.get("wait").kind == ActionKind.OBSERVATION
    assert actions.get("test.set").kind == ActionKind.CHANGE


async def test_a_verification_interrupted_halfway_observes_its_whole_window_again(
    rt: Runtime, write_runbook: WriteRunbook
) -> None:
    write_runbook("verified", VERIFIED)
    incident = await declare(rt)
    run = await flows.start_run(rt, "verified", incident, {}, ALICE)
    await _interrupt_during(rt, run.ref, "verify")
    interrupted = await flows.get_run(rt, run.ref)
    assert interrupted.status == RunStatus.RUNNING
    assert interrupted.steps[1].status == StepStatus.RUNNING

    resumed_at = time.monotonic()
    done = await Engine(rt.db, rt.actions, rt.settings.runbooks, worker_id="second").run(
        int(run.ref.removeprefix("RUN-"))
    )
    elapsed = time.monotonic() - resumed_at
    assert done == RunStatus.SUCCEEDED
    # The condition held at the instant of the resume: that is not a verification.
    assert elapsed >= WINDOW_S
    finished = await flows.get_run(rt, run.ref)
    verify = finished.steps[1]
    assert verify.attempts == 2
    assert "already in place" not in (verify.summary or "")
    (restart,) = await events(rt, incident, "runbook_step_restarted")
    assert restart["step"] == "verify" and restart["action"] == "metrics.wait_until"
    succeeded = await events(rt, incident, "runbook_step_succeeded")
    assert not any(e.get("recovered") for e in succeeded)


async def test_an_interrupted_wait_waits_its_whole_duration_again(
    rt: Runtime, write_runbook: WriteRunbook
) -> None:
    write_runbook("waits", WAITS)
    incident = await declare(rt)
    run = await flows.start_run(rt, "waits", incident, {}, ALICE)
    await _interrupt_during(rt, run.ref, "settle")
    resumed_at = time.monotonic()
    done = await Engine(rt.db, rt.actions, rt.settings.runbooks, worker_id="second").run(
        int(run.ref.removeprefix("RUN-"))
    )
    assert done == RunStatus.SUCCEEDED
    assert time.monotonic() - resumed_at >= 1.5
    (restart,) = await events(rt, incident, "runbook_step_restarted")
    assert restart["step"] == "settle"
