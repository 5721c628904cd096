"""incident-bot silence create|list|expire and incident-bot alert list|inbox."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.alert.incidents import settle
from bot.alert.service import apply_batch
from bot.alert.settings import AlertSettings
from bot.alert.txn import AlertTxn
from bot.cli import app
from bot.cli.alert_cmd import parse_duration
from bot.db import Database
from integrations.sources import alertmanager
from tests.alert.conftest import FIXTURES

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--as", "carol", *args])
    return result.exit_code, result.output


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{path}")
    assert invoke("db", "upgrade")[0] == 0
    return path


def _receive_fixture(path: Path) -> None:
    async def receive() -> None:
        db = Database(f"sqlite:///{path}")
        body = json.loads((FIXTURES / "alertmanager_v4_firing.json").read_text())
        now = datetime.now(UTC)
        batch = alertmanager.parse(body, source_name="alertmanager", now=now)
        async with db.transaction() as session:
            tx = AlertTxn(session=session, settings=AlertSettings(), now=now)
            await apply_batch(tx, batch, inbox_id=1, received_at=now)
            await settle(tx)
        await db.dispose()

    asyncio.run(receive())


def test_silence_create_list_expire(db_path: Path) -> None:
    _receive_fixture(db_path)
    code, out = invoke(
        "silence",
        "create",
        "--match",
        'model="fraud-detector"',
        "--match",
        "instance=~scoring-0.*",
        "--duration",
        "2h",
        "--reason",
        "rolling back",
    )
    assert code == 0, out
    assert "silence 1 until" in out and "(1 firing alert(s) silenced now)" in out
    code, out = invoke("silence", "list")
    assert code == 0 and "rolling back" in out and "carol" in out and "active" in out
    code, out = invoke("alert", "list", "--status", "firing")
    assert code == 0 and "2 alert(s)" in out and "silenced" in out and "INC-1" in out
    code, out = invoke("silence", "expire", "1")
    assert code == 0 and "silence 1 expired" in out
    code, out = invoke("silence", "expire", "1")
    assert code == 2 and "already expired" in out
    code, out = invoke("silence", "list")
    assert "rolling back" not in out
    code, out = invoke("silence", "list", "--all")
    assert "expired" in out
    code, out = invoke("incident", "show", "INC-1")
    assert "Alert silenced" in out


def test_silence_create_refuses_bad_input(db_path: Path) -> None:
    code, out = invoke("silence", "create", "--match", "model!=x", "--duration", "1h", "--reason", "r")
    assert code == 2 and "would silence every alert" in out
    code, out = invoke("silence", "create", "--match", "model=x", "--duration", "soon", "--reason", "r")
    assert code == 2 and "not a duration" in out


def test_alert_inbox_and_filters(db_path: Path) -> None:
    code, out = invoke("alert", "inbox")
    assert code == 0 and "pending: 0" in out and "failed: 0" in out
    code, out = invoke("alert", "list", "--status", "burning")
    assert code == 2
    code, out = invoke("alert", "list", "--incident", "nope")
    assert code == 2 and "not an incident reference" in out


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
