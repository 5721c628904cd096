"""``incident-bot demo``: the mission loop on real MLflow and MLServer, for a newcomer.

It starts MLflow with a good and a bad version of an example fraud model (the bad one
promoted), MLServer serving it, traffic with ground truth, the bot, and Prometheus with
Alertmanager when they are installed; then tells the loop as it happens (``loop``) and stops
every process it started, on exit and on Ctrl-C. docs/demo.md describes it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.demo import configs, stack
from bot.demo.loop import Ask, Loop
from bot.demo.processes import Processes

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path | None = None
    #: Use Prometheus and Alertmanager when installed (else the demo posts the webhook itself).
    monitoring: bool = True
    #: Leave everything running after the loop, until Ctrl-C.
    keep: bool = False
    undo: bool = True
    timing: configs.Timing = field(default_factory=lambda: configs.Timing(verify_for_s=30.0))


async def ask_on_terminal(prompt: str) -> bool:
    """A yes/no question on the terminal that Ctrl-C interrupts (no blocked thread)."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def read() -> None:
        if not answer.done():
            answer.set_result(sys.stdin.readline())

    loop.add_reader(fd, read)
    try:
        line = await answer
    finally:
        loop.remove_reader(fd)
    return line.strip().lower() in ("y", "yes")


async def run_demo(options: DemoOptions, say: Say, ask: Ask | None) -> Path:
    """Run the demo; returns its work folder. ``ask`` is None when stdin is not a terminal."""
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="incident-bot-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def timed(text: str) -> None:
        say(f"[{time.monotonic() - started:6.1f}s] {text}")

    timed(f"the demo's files and logs go to {workdir}")
    processes = Processes(workdir)
    try:
        tools = stack.find_tools(options.monitoring)
        running = await stack.start(processes, workdir, tools, options.timing, timed)
        loop = Loop(running, workdir, options.timing, timed, ask, undo=options.undo, keep=options.keep)
        try:
            await loop.run()
        finally:
            await loop.aclose()
        if options.keep:
            timed("everything keeps running (--keep); Ctrl-C stops it")
            await asyncio.Event().wait()
    finally:
        processes.stop_all()
        timed("stopped every process the demo started")
    return workdir


__all__ = ["DemoOptions", "ask_on_terminal", "run_demo"]
