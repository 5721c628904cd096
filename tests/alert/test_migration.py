"""The 0002_alerts revision upgrades and downgrades cleanly (models vs. migrations is checked
for every backend in tests/test_migrations.py)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from bot import migrate

TABLES = {"alert_inbox", "alert", "alert_group", "silence"}


def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    command.downgrade(migrate.alembic_config(url), "0001_core")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert "incident" in inspect(engine).get_table_names()
    migrate.upgrade(url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
