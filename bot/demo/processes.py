"""The processes the demo starts: each in its own process group, logged to a file, waited for
until it answers, and every one of them stopped (last started first) on exit, on an error
and on Ctrl-C. Their ids are kept in ``processes.json`` in the work folder while they run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.errors import UnavailableError


@dataclass(frozen=True)
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._started: list[Started] = []

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Started:
        log = self.logs / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(  # noqa: S603 (the demo's own commands)
                list(cmd),
                env={**os.environ, **(env or {})},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C on the terminal reaches the demo only
            )
        started = Started(name, process, log)
        self._started.append(started)
        self._write_ids()
        return started

    async def ready(
        self, started: Started, url: str, *, timeout_s: float = 120, ok: Sequence[int] = (200,)
    ) -> None:
        """Wait until ``url`` answers one of ``ok``; fail with the end of its log otherwise."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if started.process.poll() is not None:
                    raise self._failed(started, f"exited with {started.process.returncode}")
                try:
                    if (await client.get(url)).status_code in ok:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise self._failed(started, f"did not answer {url} within {timeout_s:g}s")

    def _failed(self, started: Started, what: str) -> UnavailableError:
        tail = started.log.read_text(errors="replace")[-2000:] if started.log.exists() else ""
        return UnavailableError(
            f"{started.name} {what}; the end of its log ({started.log}):\n{tail}",
            hint="see the whole log in the demo's work folder",
        )

    def stop_all(self) -> None:
        """Stop every process, last started first: SIGTERM, then SIGKILL after 10 seconds."""
        for started in reversed(self._started):
            process = started.process
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for started in reversed(self._started):
            try:
                started.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(started.process.pid, signal.SIGKILL)
                started.process.wait()
        self._started.clear()
        self._write_ids()

    def _write_ids(self) -> None:
        ids = {s.name: s.process.pid for s in self._started}
        (self.workdir / "processes.json").write_text(json.dumps(ids))
