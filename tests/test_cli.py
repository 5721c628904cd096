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
    assert invoke("incident", "assign", "INC-1", "commander", "dave")[0] == 0
    code, out = invoke("incident", "update", "INC-1", "--status", "closed")
    assert code == 1
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


def test_piped_tables_are_not_cut_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output to no terminal (a pipe, CI) keeps whole lines: rich would wrap it at 80."""
    monkeypatch.delenv("COLUMNS", raising=False)
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    title = "Roll the serving alias of the fraud model back to the previous good version, then verify"
    body = f"""name: long
title: {title}
owner: ml-platform
steps:
  - {{id: pause, action: wait, with: {{duration: 1}}}}
"""
    (runbooks / "long.yaml").write_text(body)
    monkeypatch.setenv("INCIDENT_BOT_RUNBOOKS_DIR", str(runbooks))
    result = CliRunner().invoke(app, ["runbook", "list"])
    assert result.exit_code == 0, result.output
    assert title in result.output
