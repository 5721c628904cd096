"""README.md word for word, as a new user runs it, against the wheel `pip install .` builds.

In a fresh copy of the repository, with no network (a network namespace of its own when the
machine allows one; pip reads the offline wheelhouse), bash runs README's first command, then
every line of its "First steps" as written. Lines that start the bot run in the background, as
in their own terminal; a line that starts it again first stops the running one (the README
says: Ctrl-C). Between lines the runner only waits, as a person would: for the bot to answer
after it starts, and for a webhook's alerts to be processed after it is posted. At the end the
bot is stopped like a person stops it (SIGINT).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, copy_tree, offline_pip_env

README = ROOT / "README.md"
SERVE = re.compile(r"\bincident-bot\b.*\bserve\b")

RUNNER = r"""
set -euo pipefail
set -m  # each background job in its own process group: the bot is stopped like Ctrl-C stops it
ip link set lo up 2>/dev/null || true
SERVE_PID=""
say() { printf '\n$ %s\n' "$1"; }
wait_ready() {
    for _ in $(seq 1 1800); do
        if curl -sf -o /dev/null http://127.0.0.1:8080/readyz; then return 0; fi
        if ! kill -0 "$SERVE_PID" 2>/dev/null; then echo "the bot exited; its output:"; cat "$1"; return 1; fi
        sleep 0.2
    done
    echo "the bot did not answer in time; its output:"; cat "$1"; return 1
}
stop_bot() {
    [ -n "$SERVE_PID" ] || return 0
    kill -INT -- "-$SERVE_PID"
    local status=0
    wait "$SERVE_PID" || status=$?
    echo "[bot stopped, exit status $status]"
    SERVE_PID=""
}
settle() {  # the alerts of the webhook just posted are processed (the intake inbox is empty)
    for _ in $(seq 1 300); do
        if curl -sf -H "Authorization: Bearer ${TOKEN:-}" http://127.0.0.1:8080/api/v1/alerts/inbox \
            | grep -q '"pending":0'; then return 0; fi
        sleep 0.1
    done
    echo "the alerts were not processed in time"; return 1
}
"""


def shell_blocks(section: str) -> list[str]:
    """The ```sh blocks of a README section (up to the next section)."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    return re.findall(r"```sh\n(.*?)```", body, re.DOTALL)


def logical_lines(block: str) -> list[str]:
    """Lines as bash reads them: a trailing backslash continues a line."""
    return [part for part in re.split(r"(?<!\\)\n", block) if part.strip()]


def script(first_command: str, first_steps: list[str], logs: Path) -> str:
    parts = [RUNNER]
    serves = 0

    def serve(line: str) -> None:
        nonlocal serves
        serves += 1
        log = logs / f"serve-{serves}.log"
        parts.append(f"say {shlex.quote(line)}")
        parts.append("stop_bot")
        parts.append(f"( {line}\n) > {shlex.quote(str(log))} 2>&1 &")
        parts.append("SERVE_PID=$!")
        parts.append(f"wait_ready {shlex.quote(str(log))}")
        parts.append(f"cat {shlex.quote(str(log))}")

    serve(first_command)
    for block in first_steps:
        for line in logical_lines(block):
            if SERVE.search(line):
                serve(line)
                continue
            parts.append(f"say {shlex.quote(line)}")
            parts.append(line)
            if "/webhooks/" in line:
                parts.append("settle")
    parts.append("stop_bot")
    return "\n".join(parts) + "\n"


def test_readme_test_command_is_what_ci_runs() -> None:
    _, test_command = shell_blocks("The two commands")
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text()


def isolated() -> list[str]:
    """Run in a network namespace of its own (no network, its own port 8080) if allowed."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    if os.geteuid() != 0 and unshare:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [unshare, "-rn"]
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.skip("port 8080 is in use and no network namespace can be made for README's commands")
    return []


def test_readme_first_command_and_first_steps_work_as_written(wheelhouse: Path, tmp_path: Path) -> None:
    [first_command, _] = shell_blocks("The two commands")
    first_command = first_command.strip()
    assert "pip install ." in first_command and " -e " not in first_command  # the wheel, not a link
    first_steps = shell_blocks("First steps")
    clone = copy_tree(tmp_path / "incident-bot")
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "run.sh").write_text(script(first_command, first_steps, logs))
    venv_bin = str(Path(os.environ.get("VIRTUAL_ENV", "/nonexistent")) / "bin")
    env = offline_pip_env(wheelhouse)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin),
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PIP_CONSTRAINT=str(clone / "constraints.txt"),
        TERM="dumb",
        COLUMNS="120",
    )
    proc = subprocess.run(
        [*isolated(), "bash", str(tmp_path / "run.sh")],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )
    transcript = proc.stdout + proc.stderr
    (tmp_path / "transcript.txt").write_text(transcript)
    assert proc.returncode == 0, transcript[-6000:]

    # The install is the wheel's: a package in site-packages with its data, not a link here.
    site = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    assert (site / "bot" / "migrations" / "versions").is_dir()
    assert (site / "integrations" / "sources" / "mappings" / "ml-monitor-contract.yaml").is_file()
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))

    # What each step is for, in the words the bot prints.
    for expected in [
        "incident-bot 0.1.0 serving on http://127.0.0.1:8080",
        f"database:  SQLite {clone / 'incident-bot.db'}",
        '"ref":"INC-1"',
        "INC-1 acknowledged",
        "fraud-detector error rate above 5%",
        '"status":"success"',
        "INC-2",
        "INC-2  SEV1  mitigated",
        "[bot stopped",
    ]:
        assert expected in transcript, (expected, transcript[-6000:])
    assert "Traceback" not in transcript and "error:" not in transcript, transcript[-6000:]
