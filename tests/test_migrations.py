"""Migrations: from empty on each backend, and the models match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool
from sqlmodel import SQLModel

import bot.models_index  # noqa: F401
from bot import migrate
from bot.db import sync_url


def test_upgrade_from_empty_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert migrate.current_revisions(url) == set()
    migrate.upgrade(url)
    assert migrate.is_up_to_date(url)
    migrate.upgrade(url)  # idempotent
    engine = create_engine(sync_url(url))
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_match_migrations(db_url: str) -> None:
    """Every backend: a migrated database has exactly the tables and columns of the models."""
    engine = create_engine(sync_url(db_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []
    assert migrate.is_up_to_date(db_url)


def test_single_head_and_full_downgrade_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    assert len(migrate.head_revisions()) == 1, "merge the migration heads"
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "base")
    engine = create_engine(sync_url(url))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    assert migrate.is_up_to_date(url)
