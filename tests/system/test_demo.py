"""``incident-bot demo`` as a newcomer runs it: from a virtual environment with the demo extra
(``pip install -e '.[demo]'``, cached), stdin not a terminal. It goes through the whole loop and
stops every process it started, at the end and on Ctrl-C."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.fixtures.alertmanager import alertmanager_binary
from tests.system.fixtures.prometheus import prometheus_binary
from tests.system.servers import ensure_venv

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_bin() -> Path:
    """A venv with the bot (editable: this checkout's code) and its demo extra, pinned by
    ``tests/system/constraints/demo.txt``; rebuilt when pyproject.toml changes."""
    metadata = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return ensure_venv("demo", ["-e", f"{ROOT}[demo]"], key=metadata)


def alive(pids: dict[str, int]) -> list[str]:
    running = []
    for name, pid in pids.items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        running.append(name)
    return running


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "demo"
    yield folder
    ids = folder / "processes.json"
    if ids.exists():  # a failed test must not leave servers behind
        for pid in json.loads(ids.read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_the_demo_runs_the_loop_without_prometheus_and_stops_everything(
    demo_bin: Path, workdir: Path
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            str(demo_bin / "incident-bot"),
            "demo",
            "--workdir",
            str(workdir),
            "--without-prometheus",
            "--verify-for",
            "10",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for said in (
        "Prometheus and Alertmanager are left out (--without-prometheus): the demo posts the "
        "Alertmanager webhook itself",
        "INC-1 opened",
        "SEV2 from routing rule fraud-page",
        "why: newest version older than v2 tagged validated=true",
        "stdin is not a terminal: bob, the second demo person, approves RUN-1",
        "(asked MLServer: it answers as v1)",
        "INC-1 mitigated by the verification: verified:",
        "the alert resolved on INC-1",
        "alice resolved INC-1",
        "RUN-1 undone: MLflow says champion → v2, MLServer answers as v2",
        "where to look:",
        "stopped every process the demo started",
    ):
        assert said in out, f"{said!r} not in:\n{out}"
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert all(line[1:8].strip().endswith("s") for line in lines)  # timings on every step
    postmortem = workdir / "postmortem-INC-1.md"
    assert postmortem.exists() and "RUN-1" in postmortem.read_text()
    assert json.loads((workdir / "processes.json").read_text()) == {}
    assert time.monotonic() - started < 300


def test_ctrl_c_stops_every_process_the_demo_started(demo_bin: Path, workdir: Path, tmp_path: Path) -> None:
    prometheus_binary()
    alertmanager_binary()
    output = tmp_path / "demo.out"
    with open(output, "w") as out:
        demo = subprocess.Popen(
            [str(demo_bin / "incident-bot"), "demo", "--workdir", str(workdir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while "INC-1 opened" not in output.read_text():
            assert demo.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.5)
        pids = json.loads((workdir / "processes.json").read_text())
        assert set(pids) == {"mlflow", "mlserver", "exporter", "incident-bot", "alertmanager", "prometheus"}
        assert alive(pids) == list(pids)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
    text = output.read_text()
    assert "Prometheus (" in text and "interrupted: every process the demo started is stopped" in text
    assert alive(pids) == []
