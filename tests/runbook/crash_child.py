"""A bot process for the crash-recovery tests: executes runbook runs with a file-backed action.

``python -m tests.runbook.crash_child MODE DB_URL RUNBOOKS_DIR STATE_DIR [RUN]``

- MODE ``execute``: execute RUN in the foreground (as the CLI does);
- MODE ``worker``: start the worker component (as ``serve`` does) and wait until every run is
  finished.

The action ``file.set`` keeps its "external system" in STATE_DIR/state.json and appends every
apply to STATE_DIR/applies.log. With ``CRASH_AT=<step>:<point>`` (point: plan, apply_start,
apply_end) the process writes STATE_DIR/paused when it gets there and waits to be killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from bot.config import load_settings
from bot.runbook import flows
from bot.runbook.builtin import register_builtin_actions
from bot.runbook.install import install
from bot.runbook.states import FINISHED
from bot.runtime import Runtime
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
)
from integrations.wiring import Integrations


class FileSetParams(ActionParams):
    key: str = Field(min_length=1)
    value: Any = None


class FileSetAction(BaseAction[FileSetParams]):
    name = "file.set"
    description = "Set a key in a JSON file (a stand-in for an external system)."
    params_model = FileSetParams
    mutating = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = folder / "state.json"
        self.log = folder / "applies.log"

    def _read(self) -> dict[str, Any]:
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    async def _maybe_crash(self, ctx: ActionContext, point: str) -> None:
        if os.environ.get("CRASH_AT") == f"{ctx.step_id}:{point}":
            (self.folder / "paused").write_text(f"{ctx.step_id}:{point}")
            await asyncio.sleep(3600)

    def target(self, params: FileSetParams) -> str:
        return f"file:{params.key}"

    async def plan(self, params: FileSetParams, ctx: ActionContext) -> Plan:
        await self._maybe_crash(ctx, "plan")
        current = self._read().get(params.key)
        return Plan(
            self.target(params),
            {"value": current},
            {"value": params.value},
            f"{params.key}: {current} → {params.value}",
        )

    async def apply(self, params: FileSetParams, ctx: ActionContext) -> ActionResult:
        await self._maybe_crash(ctx, "apply_start")
        state = self._read()
        before = state.get(params.key)
        state[params.key] = params.value
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state)
        with self.log.open("a") as log:
            log.write(f"{ctx.step_id} {params.key}={params.value}\n")
            log.flush()
            os.fsync(log.fileno())
        await self._maybe_crash(ctx, "apply_end")
        return ActionResult(
            self.target(params),
            {"value": before},
            {"value": params.value},
            f"{params.key}: {before} → {params.value}",
        )

    def inverse(self, params: FileSetParams, before: dict[str, Any]) -> Invocation | None:
        return Invocation(self.name, {"key": params.key, "value": before.get("value")})


def registry(folder: Path) -> ActionRegistry:
    actions = ActionRegistry()
    actions.register(FileSetAction(folder))
    register_builtin_actions(actions)
    return actions


def runtime(db_url: str, runbooks_dir: Path, folder: Path) -> Runtime:
    settings = load_settings(
        database_url=db_url,
        runbooks_dir=runbooks_dir,
        runbooks={"lease": 1, "poll_interval": 0.1, "default_retries": {"max": 0}},
        # These runs change files in a test folder: they run without approval, explicitly.
        permissions={"runs_without_approval": ["*"]},
    )
    built = Runtime.build(settings)
    built.integrations = Integrations(registry(folder))
    return built


async def main(mode: str, db_url: str, runbooks_dir: str, state_dir: str, run: str | None) -> None:
    rt = runtime(db_url, Path(runbooks_dir), Path(state_dir))
    try:
        if mode == "execute":
            assert run is not None
            out = await flows.execute(rt, run, poll_s=0.1)
            print(json.dumps({"run": out.ref, "status": out.status.value}))
            return
        worker = install(rt)
        await worker.start()
        try:
            for _ in range(600):
                runs = await flows.list_runs(rt)
                if runs and all(r.status in FINISHED for r in runs):
                    print(json.dumps({r.ref: r.status.value for r in runs}))
                    return
                await asyncio.sleep(0.1)
            raise SystemExit("runs did not finish within 60s")
        finally:
            await worker.stop()
    finally:
        await rt.db.dispose()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], args[3], args[4] if len(args) > 4 else None))
