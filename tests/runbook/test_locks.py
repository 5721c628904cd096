"""One active run per target, enforced by the database, across replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import AlreadyRunningError
from bot.runbook import flows
from bot.runbook.schemas import RunOut
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, WriteRunbook, declare, make_runtime

SET_K = """
steps:
  - {id: set, action: test.set, with: {key: k, value: 1}}
  - {id: wait, action: wait, with: {duration: 1ms}}
"""
READ_ONLY = """
steps:
  - {id: read, action: test.read, with: {key: k}}
  - {id: wait, action: wait, with: {duration: 1ms}}
"""


async def test_a_second_run_on_a_target_is_refused_until_the_first_ends(
    rt: Runtime, write_runbook: WriteRunbook
) -> None:
    write_runbook("set-k", SET_K)
    write_runbook("also-k", SET_K)
    incident = await declare(rt)
    first = await flows.start_run(rt, "set-k", incident, {}, ALICE)
    assert first.locks == ["store:k"]
    with pytest.raises(AlreadyRunningError) as info:
        await flows.start_run(rt, "also-k", await declare(rt), {}, ALICE)
    assert info.value.message == "already running: RUN-1 holds store:k"
    assert info.value.context == {"run": "RUN-1", "target": "store:k"}
    assert [r.ref for r in await flows.list_runs(rt)] == ["RUN-1"]  # the refused run left nothing
    assert (await flows.execute(rt, first.ref)).status == RunStatus.SUCCEEDED
    second = await flows.start_run(rt, "also-k", incident, {}, ALICE)
    assert second.locks == ["store:k"]


async def test_read_only_runs_take_no_lock(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("read-k", READ_ONLY)
    write_runbook("set-k", SET_K)
    incident = await declare(rt)
    reads = [await flows.start_run(rt, "read-k", incident, {}, ALICE) for _ in range(2)]
    assert [r.locks for r in reads] == [[], []]
    assert (await flows.start_run(rt, "set-k", incident, {}, ALICE)).locks == ["store:k"]
    for run in reads:
        assert (await flows.execute(rt, run.ref)).status == RunStatus.SUCCEEDED


async def test_a_step_takes_the_lock_of_a_target_known_only_at_run_time(
    rt: Runtime, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook(
        "chained",
        """
        steps:
          - {id: read, action: test.read, with: {key: pointer}}
          - {id: set, action: test.set, with: {key: "{{ steps.read.after.value }}", value: 1}}
        """,
    )
    write_runbook("set-k", SET_K)
    store.values["pointer"] = "k"
    incident = await declare(rt)
    holder = await flows.start_run(rt, "set-k", incident, {}, ALICE)
    chained = await flows.start_run(rt, "chained", incident, {}, ALICE)
    assert chained.locks == []
    run = await flows.execute(rt, chained.ref)
    assert run.status == RunStatus.FAILED
    assert (
        run.steps[1].error == "already running: RUN-1 holds store:k (wait for RUN-1 to finish, or cancel it)"
    )
    assert "k" not in store.values
    assert (await flows.get_run(rt, holder.ref)).locks == ["store:k"]


async def test_concurrent_requests_from_replicas_get_one_run(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook
) -> None:
    """Four replicas (own engines and pools) ask for runs on the same target at once."""
    write_runbook("set-k", SET_K)
    replicas = [make_runtime(db_url, runbooks_dir, store) for _ in range(4)]
    try:
        # One incident per request: nothing but the target lock serializes them.
        incidents = [await declare(replicas[0]) for _ in range(8)]
        for _round in range(3):
            outcomes = await asyncio.gather(
                *(
                    flows.start_run(replicas[i % 4], "set-k", ref, {}, ALICE)
                    for i, ref in enumerate(incidents)
                ),
                return_exceptions=True,
            )
            runs = [o for o in outcomes if isinstance(o, RunOut)]
            refused = [o for o in outcomes if isinstance(o, AlreadyRunningError)]
            assert len(runs) == 1, outcomes
            assert len(refused) == len(outcomes) - 1
            assert {e.message for e in refused} == {f"already running: {runs[0].ref} holds store:k"}
            assert (await flows.execute(replicas[1], runs[0].ref)).status == RunStatus.SUCCEEDED
        assert len(await flows.list_runs(replicas[0])) == 3
    finally:
        for replica in replicas:
            await replica.db.dispose()


async def test_undo_takes_the_locks_again(rt: Runtime, write_runbook: WriteRunbook) -> None:
    write_runbook("set-k", SET_K)
    write_runbook("also-k", SET_K)
    incident = await declare(rt)
    done = await flows.execute(rt, (await flows.start_run(rt, "set-k", incident, {}, ALICE)).ref)
    other = await flows.start_run(rt, "also-k", incident, {}, ALICE)
    with pytest.raises(AlreadyRunningError, match=f"already running: {other.ref} holds store:k"):
        await flows.undo(rt, done.ref, ALICE)
    assert (await flows.get_run(rt, done.ref)).status == RunStatus.SUCCEEDED
    await flows.cancel(rt, other.ref, ALICE)
    undoing = await flows.undo(rt, done.ref, ALICE)
    assert (undoing.status, undoing.locks) == (RunStatus.UNDOING, ["store:k"])
