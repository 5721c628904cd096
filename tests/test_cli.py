"""The incident-bot command: one rule for errors, readable help, the database it uses, and
`serve` end to end (the checks before it binds, the port before migrations, the banner)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette
from typer.testing import CliRunner

from bot import migrate
from bot.cli import app, serve_cmd
from bot.incident import flows
from tests.system.servers import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return db


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--as", "carol", *args])
    return result.exit_code, result.output


def bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it: a process of its own, in ``cwd``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_BOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(cwd / "state"), **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )


def test_cli_flow(cli_env: Path) -> None:
    code, out = invoke("db", "upgrade")
    assert code == 0 and "up to date" in out and str(cli_env) in out
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
    code, out = invoke("incident", "ack", "INC-1")
    assert code == 0 and "INC-1 acknowledged" in out and "status investigating" in out
    code, out = invoke("incident", "update", "INC-1", "--status", "closed")
    assert code == 2 and out.count("\n") == 1 and out.startswith("error: ")
    code, out = invoke("incident", "update", "INC-1")
    assert (code, out) == (
        2,
        "error: nothing to change on INC-1; give --status, --severity or --title (see --help)\n",
    )
    code, out = invoke("incident", "show", "INC-1")
    assert code == 0
    assert "drift on churn" in out and "Incident commander: dave" in out and "carol (cli)" in out
    assert "acknowledged: 20" in out
    code, out = invoke("incident", "list", "--open")
    assert code == 0 and "INC-1" in out and "1 incident(s)" in out
    code, out = invoke("token", "list")
    assert "ci" in out and token not in out
    code, out = invoke("incident", "show", "INC-9")
    assert code == 2 and out == f"error: incident INC-9 does not exist (database: SQLite {cli_env})\n"


def test_token_alone_goes_to_stdout(tmp_path: Path) -> None:
    assert bot("db", "upgrade", cwd=tmp_path).returncode == 0
    proc = bot("token", "create", "me", "--scope", "admin", cwd=tmp_path)
    assert proc.returncode == 0
    assert re.fullmatch(r"ibot_[\w-]+\n", proc.stdout)  # so `export TOKEN=$(...)` works
    assert "it will not be shown again" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("incident", "list"),
        ("token", "list"),
        ("incident", "show", "INC-1"),
        ("alert", "list"),
        ("db", "current"),
        ("runbook", "run", "rollback-model", "--incident", "INC-1", "--dry-run"),
        ("runbook", "runs"),
    ],
)
def test_commands_never_create_a_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = bot(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"error: no database at {tmp_path / 'incident-bot.db'}")
    assert "INCIDENT_BOT_DATABASE_URL=sqlite:////" in line and "--config" in line
    assert not (tmp_path / "incident-bot.db").exists()


def test_database_without_schema_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    proc = bot("incident", "list", cwd=tmp_path, env={"INCIDENT_BOT_DATABASE_URL": "sqlite:///empty.db"})
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: the database SQLite {tmp_path / 'empty.db'} has no incident-bot schema; "
        "run `incident-bot db upgrade` to create it, or point at it with "
        "INCIDENT_BOT_DATABASE_URL=sqlite:////path/to/incident-bot.db (or database_url in a --config file)\n"
    )
    (tmp_path / "junk.db").write_text("not a database at all, but long enough to be read as one" * 100)
    proc = bot("incident", "list", cwd=tmp_path, env={"INCIDENT_BOT_DATABASE_URL": "sqlite:///junk.db"})
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: cannot use the database SQLite {tmp_path / 'junk.db'}: ")
    assert proc.stderr.count("\n") == 1


def test_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("port: nope\n")
    proc = bot("--config", str(cfg), "incident", "list", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: the configuration has 1 problem(s):",
        f"  {cfg}: port: should be a valid integer, unable to parse string as an integer; "
        "write a whole number",
    ]


def test_usage_mistakes_are_one_line(tmp_path: Path) -> None:
    proc = bot("incident", "update", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: Missing argument 'REF'; see 'python -m bot incident update --help'\n",
    )
    proc = bot("incident", "list", "--limit", "0", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--limit" in proc.stderr
    proc = bot("incident", "list", "--status", "bogus", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith(
        "error: Invalid value for '--status': 'bogus' is not"
    )
    assert "Value error" not in proc.stderr


def test_unexpected_error_names_its_log_file(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("db", "upgrade")[0] == 0

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the disk is on fire\nsecond line")

    monkeypatch.setattr(flows, "list_incidents", broken)
    code, out = invoke("incident", "list")
    assert code == 3
    match = re.fullmatch(
        r"error: unexpected RuntimeError: the disk is on fire; the traceback is in (\S+) "
        r"\(add --debug to see it here\); please report it\n",
        out,
    )
    assert match, out
    log = Path(match.group(1))
    assert log.parent == cli_env.parent / "state" / "incident-bot"
    assert "Traceback" in log.read_text() and "the disk is on fire" in log.read_text()
    result = runner.invoke(app, ["--debug", "incident", "list"])
    assert isinstance(result.exception, RuntimeError)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in getattr(group, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_help_shows_no_python_types(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.main

    monkeypatch.setenv("COLUMNS", "200")
    commands = _commands(typer.main.get_command(app))
    assert ("incident", "ack") in commands and ("config", "check") in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert not re.search(r"<(str|bool|int|float|path|list\[)", result.output, re.IGNORECASE), (
            path,
            result.output,
        )
    help_text = runner.invoke(app, ["incident", "declare", "--help"]).output
    assert re.search(r"--model\s+MODEL\s+Affected model; repeatable.", help_text)
    assert re.search(r"--severity\s+SEV1\|SEV2\|SEV3\|SEV4", help_text)


async def test_scheduler_logs_nothing_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    try:
        serve_cmd.configure_logging("INFO")
        scheduler = AsyncIOScheduler()
        ran = asyncio.Event()
        scheduler.add_job(ran.set)  # due now: APScheduler logs "Added job", "Running job"... at INFO
        scheduler.start()
        await asyncio.wait_for(ran.wait(), 10)
        await asyncio.sleep(0.05)
        scheduler.shutdown(wait=False)
        assert [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")] == []
        assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    finally:
        for name in serve_cmd.QUIET_AT_INFO:
            logging.getLogger(name).setLevel(logging.NOTSET)


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_BOT_", "SLACK_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, "serve", "--port", str(port))
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", 30, proc)  # type: ignore[arg-type]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/incidents").status_code == 401
        home = httpx.get(f"http://127.0.0.1:{port}/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        assert 'href="/docs"' in home.text and "incident-bot token create" in home.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode in (0, -15), err  # uvicorn re-raises the signal once it has shut down
    heads = ", ".join(sorted(migrate.head_revisions()))
    assert "Application shutdown complete" in err
    assert out.splitlines()[:5] == [
        f"incident-bot 0.1.0 serving on http://127.0.0.1:{port}",
        f"  API docs:  http://127.0.0.1:{port}/docs",
        f"  database:  SQLite {tmp_path / 'incident-bot.db'} (schema created: {heads})",
        "  next, in another terminal in this folder: incident-bot token create me --scope admin",
        "  stop with Ctrl-C",
    ]
    assert "alembic" not in err and "Traceback" not in err


def test_serve_refuses_a_busy_port_before_migrating(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(tmp_path, "serve", "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err == (
        f"error: port {port} on 127.0.0.1 is already in use (another incident-bot serve?); "
        "stop that process, or choose another port with --port or INCIDENT_BOT_PORT\n"
    )
    assert not (tmp_path / "incident-bot.db").exists()  # nothing migrated


def test_serve_lists_every_configuration_problem_before_anything_else(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "runbooks_dir: missing-runbooks\n"
        "alerts:\n  sources:\n"
        "    alertmanager: {auth: {type: basic, username: am, password: {env: AM_PASSWORD}}}\n"
        "    grafana: {auth: {type: grafana_hmac, secret: {env: GRAFANA_SECRET}}}\n"
    )
    proc = _serve(tmp_path, "--config", str(cfg), "serve", "--port", str(free_port()))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.splitlines() == [
        "error: the configuration has 3 problem(s):",
        f"  {cfg}: alerts.sources.alertmanager.auth.password: environment variable AM_PASSWORD is not set; "
        "set AM_PASSWORD in the bot's environment",
        f"  {cfg}: alerts.sources.grafana.auth.secret: environment variable GRAFANA_SECRET is not set; "
        "set GRAFANA_SECRET in the bot's environment",
        f"  {cfg}: runbooks_dir: {tmp_path / 'missing-runbooks'} does not exist; create it, or point "
        "runbooks_dir at an existing folder (unset: the shipped defaults)",
    ]
    assert not (tmp_path / "incident-bot.db").exists()


def test_serve_on_a_broken_install_is_one_line(tmp_path: Path) -> None:
    """An installation without its migrations (the wheel that once shipped without them)."""
    site = tmp_path / "site"
    for name in ("bot", "integrations", "runbooks", "templates"):
        shutil.copytree(ROOT / name, site / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(site / "bot" / "migrations")
    work = tmp_path / "work"
    work.mkdir()
    for migrate_flag in ("--no-migrate", "--migrate"):
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "serve", migrate_flag, "--port", str(free_port())],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(site), "INCIDENT_BOT_DATABASE_URL": "sqlite:///bot.db"},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == (
            "error: this installation of incident-bot is incomplete: no migrations in "
            f"{site / 'bot' / 'migrations'}; reinstall it (pip install --force-reinstall incident-bot, or "
            "`pip install .` in a checkout)\n"
        )


def test_runbook_list_refuses_a_missing_folder(tmp_path: Path) -> None:
    proc = bot("runbook", "list", cwd=tmp_path, env={"INCIDENT_BOT_RUNBOOKS_DIR": "my-runbooks"})
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"error: the runbooks folder {tmp_path / 'my-runbooks'} does not exist; "
        "create it, or point runbooks_dir (--config, INCIDENT_BOT_RUNBOOKS_DIR) at your runbooks\n"
    )


async def test_a_failing_start_up_is_one_log_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What uvicorn logs when the app's lifespan fails: one line naming the traceback's file."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the outbox worker could not start")
        yield

    app = serve_cmd.OneLineStartupFailure(Starlette(lifespan=lifespan))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    with pytest.raises(RuntimeError):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    [failed] = sent
    assert failed["type"] == "lifespan.startup.failed"
    match = re.fullmatch(
        r"start-up failed: RuntimeError: the outbox worker could not start; the traceback is in (\S+)",
        failed["message"],
    )
    assert match, failed["message"]
    assert "Traceback" in Path(match.group(1)).read_text()  # noqa: ASYNC240 - a test reading a log


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
