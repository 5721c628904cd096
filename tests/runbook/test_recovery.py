"""Crash recovery with real processes: a bot process is SIGKILLed between commit points, another
one (the worker, as ``serve`` starts it) resumes the run; no step is applied twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.incident import flows as incident_flows
from bot.runbook import flows
from bot.runbook.states import RunStatus, StepStatus
from bot.runtime import Runtime
from tests.runbook import crash_child
from tests.runbook.conftest import ALICE, declare, events

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = """name: crashy
title: Three changes
owner: tests
steps:
  - {id: one, action: file.set, with: {key: a, value: 1}}
  - {id: two, action: file.set, with: {key: b, value: 2}}
  - {id: three, action: file.set, with: {key: c, value: 3}}
"""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    runbooks, state = tmp_path / "runbooks", tmp_path / "state"
    runbooks.mkdir()
    state.mkdir()
    (runbooks / "crashy.yaml").write_text(RUNBOOK)
    return runbooks, state


@pytest.fixture
async def parent(db_url: str, folders: tuple[Path, Path]) -> AsyncIterator[Runtime]:
    runtime = crash_child.runtime(db_url, *folders)
    yield runtime
    await runtime.db.dispose()


def start_child(
    mode: str, db_url: str, folders: tuple[Path, Path], run: str | None, crash_at: str | None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CRASH_AT", None)
    if crash_at:
        env["CRASH_AT"] = crash_at
    args = [sys.executable, "-m", "tests.runbook.crash_child", mode, db_url, str(folders[0]), str(folders[1])]
    return subprocess.Popen(
        [*args, *([run] if run else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_paused(child: subprocess.Popen[str], state: Path, timeout_s: float = 60) -> None:
    paused = state / "paused"
    deadline = time.monotonic() + timeout_s
    while not paused.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child ended before pausing: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the child did not reach the crash point")
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    paused.unlink()


def finish(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = child.communicate(timeout=90)
    assert child.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def applies(state: Path) -> list[str]:
    log = state / "applies.log"
    return log.read_text().splitlines() if log.exists() else []


def values(state: Path) -> dict[str, Any]:
    return dict(json.loads((state / "state.json").read_text()))


@pytest.mark.parametrize(
    ("crash_at", "step_two_at_kill"),
    [
        ("two:apply_end", StepStatus.RUNNING),  # changed, not yet committed as succeeded
        ("two:apply_start", StepStatus.RUNNING),  # committed as running, not yet changed
        ("three:plan", StepStatus.SUCCEEDED),  # between two steps
    ],
)
async def test_a_killed_run_resumes_and_applies_no_step_twice(
    parent: Runtime, db_url: str, folders: tuple[Path, Path], crash_at: str, step_two_at_kill: StepStatus
) -> None:
    state = folders[1]
    incident = await declare(parent)
    run = await flows.start_run(parent, "crashy", incident, {}, ALICE)
    kill_when_paused(start_child("execute", db_url, folders, run.ref, crash_at), state)

    killed = await flows.get_run(parent, run.ref)
    assert killed.status == RunStatus.RUNNING and killed.locks == ["file:a", "file:b", "file:c"]
    assert killed.steps[1].status == step_two_at_kill
    assert applies(state) == {"two:apply_end": ["one a=1", "two b=2"], "two:apply_start": ["one a=1"]}.get(
        crash_at, ["one a=1", "two b=2"]
    )

    assert finish(start_child("worker", db_url, folders, None, None)) == {run.ref: "succeeded"}
    assert applies(state) == ["one a=1", "two b=2", "three c=3"]
    assert values(state) == {"a": 1, "b": 2, "c": 3}
    done = await flows.get_run(parent, run.ref)
    assert done.status == RunStatus.SUCCEEDED and done.locks == []
    assert [s.before for s in done.steps] == [{"value": None}] * 3
    [resumed] = await events(parent, incident, "runbook_resumed")
    step_two = [e for e in await events(parent, incident, "runbook_step_succeeded") if e["step"] == "two"]
    if crash_at == "two:apply_end":
        assert resumed["steps_in_doubt"] == ["two"]
        assert step_two[0]["recovered"] is True and done.steps[1].attempts == 1
    elif crash_at == "two:apply_start":
        assert resumed["steps_in_doubt"] == ["two"]
        assert "recovered" not in step_two[0] and done.steps[1].attempts == 2
    else:
        assert "steps_in_doubt" not in resumed
    kinds = [e.kind for e in await incident_flows.get_timeline(parent.db, incident)]
    assert kinds.count("runbook_step_succeeded") == 3 and kinds.count("runbook_succeeded") == 1


async def test_a_killed_undo_resumes_and_reverts_each_step_once(
    parent: Runtime, db_url: str, folders: tuple[Path, Path]
) -> None:
    state = folders[1]
    incident = await declare(parent)
    run = await flows.start_run(parent, "crashy", incident, {}, ALICE)
    assert (await flows.execute(parent, run.ref)).status == RunStatus.SUCCEEDED
    await flows.undo(parent, run.ref, ALICE)
    kill_when_paused(start_child("worker", db_url, folders, None, "two.undo:apply_end"), state)
    killed = await flows.get_run(parent, run.ref)
    assert killed.status == RunStatus.UNDOING
    assert [(u.step, u.status) for u in killed.undo_steps] == [
        ("three", "succeeded"),
        ("two", "running"),
        ("one", "pending"),
    ]

    assert finish(start_child("worker", db_url, folders, None, None)) == {run.ref: "undone"}
    assert applies(state) == [
        "one a=1",
        "two b=2",
        "three c=3",
        "three.undo c=None",
        "two.undo b=None",
        "one.undo a=None",
    ]
    assert values(state) == {"a": None, "b": None, "c": None}
    assert (await flows.get_run(parent, run.ref)).status == RunStatus.UNDONE
