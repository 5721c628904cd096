"""Start real servers (MLflow, Prometheus, Alertmanager, Airflow, ...) for system tests.

Each server that comes from PyPI runs from its own virtual environment, created on first
use and cached between runs (their pins conflict with ours and with each other), installed
with the exact versions of ``tests/system/constraints/<name>.txt`` (refreshed by
``.ci/refresh-constraints``). The cache lives in ``$INCIDENT_BOT_TEST_CACHE`` or
``~/.cache/incident-bot-tests``; a file lock keeps two test runs from building the same
environment at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

CACHE = Path(os.environ.get("INCIDENT_BOT_TEST_CACHE", Path.home() / ".cache" / "incident-bot-tests"))
CONSTRAINTS = Path(__file__).resolve().parent / "constraints"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_venv(name: str, requirements: Sequence[str], python: str | None = None, *, key: str = "") -> Path:
    """Return the bin/ folder of a cached venv holding exactly ``requirements``, at the versions
    pinned in ``constraints/<name>.txt`` (a new pin file makes a new environment). ``key`` is
    anything else the environment depends on (e.g. the metadata of an editable install)."""
    pins = CONSTRAINTS / f"{name}.txt"
    pinned = pins.read_text() if pins.is_file() else ""
    digest = hashlib.sha256("\n".join([*requirements, pinned, key]).encode()).hexdigest()[:12]
    venv = CACHE / "venvs" / f"{name}-{digest}"
    CACHE.mkdir(parents=True, exist_ok=True)
    lock_path = CACHE / f"{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = venv / ".complete"
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python or sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
            subprocess.run([*pip, "--upgrade", "pip"], check=True, stdin=subprocess.DEVNULL)
            constrained = ["--constraint", str(pins)] if pinned else []
            subprocess.run([*pip, *constrained, *requirements], check=True, stdin=subprocess.DEVNULL)
            marker.write_text("\n".join(requirements))
    return venv / "bin"


def wait_http(
    url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, ok: Sequence[int] = (200,)
) -> None:
    """Poll ``url`` until it answers one of ``ok`` or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    last: str = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} was ready")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code in ok:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout_s}s (last: {last})")


@contextlib.contextmanager
def running(
    cmd: Sequence[str],
    *,
    ready_url: str,
    timeout_s: float = 120.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    ok: Sequence[int] = (200,),
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` until the block ends; wait for ``ready_url`` first. Output goes to ``log``."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        list(cmd),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        try:
            wait_http(ready_url, timeout_s, proc, ok)
        except Exception:
            if log and log.exists():
                sys.stderr.write(log.read_text(errors="replace")[-4000:])
            raise
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]
