"""The worker component: concurrency limit, approval expiry, hand-over on shutdown."""

from __future__ import annotations

from pathlib import Path

from bot.runbook import flows
from bot.runbook.engine import Engine
from bot.runbook.install import install
from bot.runbook.states import RunStatus
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, WriteRunbook, declare, eventually, make_runtime

SLOW = """
inputs:
  key: {}
steps:
  - {id: set, action: test.set, with: {key: "{{ inputs.key }}", value: 1}}
"""


async def test_the_worker_runs_at_most_the_configured_number_at_once(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("slow", SLOW)
    runtime = make_runtime(db_url, runbooks_dir, store, max_concurrent_runs=2)
    worker = install(runtime)
    assert install(runtime) is worker
    assert runtime.components.count(worker) == 1
    try:
        incident = await declare(runtime)
        for key in "abcde":
            store.delays[key] = [0.3]
            await flows.start_run(runtime, "slow", incident, {"key": key}, ALICE)
        await worker.start()
        most = 0

        async def all_done() -> bool:
            nonlocal most
            runs = await flows.list_runs(runtime)
            most = max(most, sum(r.status == RunStatus.RUNNING for r in runs))
            return all(r.status == RunStatus.SUCCEEDED for r in runs)

        await eventually(all_done, interval_s=0.05)
        assert most == 2
        assert store.values == dict.fromkeys("abcde", 1)
    finally:
        await worker.stop()
        await runtime.db.dispose()


async def test_the_worker_expires_approval_requests(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("slow", SLOW + "approval: {required: one, expires_after: 100ms}\n")
    runtime = make_runtime(db_url, runbooks_dir, store)
    worker = install(runtime)
    try:
        run = await flows.start_run(runtime, "slow", await declare(runtime), {"key": "a"}, ALICE)
        await worker.start()

        async def expired() -> bool:
            return (await flows.get_run(runtime, run.ref)).end_reason == "approval_expired"

        await eventually(expired)
    finally:
        await worker.stop()
        await runtime.db.dispose()


async def test_stopping_hands_a_run_over_at_once(
    db_url: str, runbooks_dir: Path, store: Store, write_runbook: WriteRunbook
) -> None:
    write_runbook("waits", "steps:\n  - {id: pause, action: wait, with: {duration: 1h}}\n")
    runtime = make_runtime(db_url, runbooks_dir, store, lease=600)
    worker = install(runtime)
    try:
        run = await flows.start_run(runtime, "waits", await declare(runtime), {}, ALICE)
        await worker.start()

        async def waiting() -> bool:
            return (await flows.get_run(runtime, run.ref)).steps[0].status == "running"

        await eventually(waiting)
        await worker.stop()
        other = Engine(runtime.db, runtime.actions, runtime.settings.runbooks, worker_id="other")
        # The lease (600s) was given back: another worker may resume the run now.
        assert await other.claimable(10) == [int(run.ref.removeprefix("RUN-"))]
        assert await other.claim(int(run.ref.removeprefix("RUN-")))
    finally:
        await runtime.db.dispose()
