"""The incident-bot command: exit codes, readable output, and `serve` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.system.servers import free_port, wait_http

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{db}")
    return db


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--as", "carol", *args])
    return result.exit_code, result.output


def test_cli_flow(cli_env: Path) -> None:
    code, out = invoke("db", "upgrade")
    assert code == 0 and "up to date" in out
    code, out = invoke("token", "create", "ci", "--scope", "write")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("ibot_")
    code, out = invoke(
        "incident", "declare", "--title", "drift on churn", "--severity", "SEV2", "--model", "churn"
    )
    assert code == 0 and "declared INC-1" in out
    code, out = invoke("incident", "assign", "INC-1", "commander", "dave")
    assert code == 2 and out.count("\n") == 1  # refused in one line: the rule and who may
    assert "carol may not assign the commander role on INC-1" in out and "permissions.assign_roles" in out
    assert invoke("incident", "assign", "INC-1", "commander", "carol")[0] == 0  # she declared it
    assert invoke("incident", "assign", "INC-1", "commander", "dave")[0] == 0  # a commander hands over
    erin = runner.invoke(app, ["--as", "erin", "incident", "update", "INC-1", "--severity", "SEV1"])
    assert erin.exit_code == 2 and "erin may not change the severity of INC-1" in erin.output
    code, out = invoke("incident", "update", "INC-1", "--status", "closed")
    assert code == 1  # carol (a responder) may close, but triggered → closed is no transition
    code, out = invoke("incident", "show", "INC-1")
    assert code == 0
    assert "drift on churn" in out and "Incident commander: dave" in out and "carol (cli)" in out
    code, out = invoke("incident", "list", "--open")
    assert code == 0 and "INC-1" in out and "1 incident(s)" in out
    code, out = invoke("token", "list")
    assert "ci" in out and token not in out
    assert invoke("incident", "show", "INC-9")[0] == 1


def test_unmigrated_database_says_what_to_do(cli_env: Path) -> None:
    code, _ = invoke("incident", "list")
    assert code == 1


def test_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("port: nope\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "incident", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2
    assert str(cfg) in proc.stderr and "port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[1]),
        "INCIDENT_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", 30, proc)  # type: ignore[arg-type]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/incidents").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)
