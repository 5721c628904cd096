"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL too when
``TEST_DATABASE_URL`` is set (every database test runs on both), the app and API tokens.

PostgreSQL isolation: each test run migrates its own schema (``search_path``), so parallel
runs on one server do not collide; tables are truncated between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import bot.models_index  # noqa: F401
from bot import migrate
from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.config import Settings, load_settings
from bot.db import Database, sync_url
from bot.runtime import Runtime

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own settings; the developer's environment must not leak in."""
    for key in list(os.environ):
        if key.startswith("INCIDENT_BOT_") or key.startswith("SLACK_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sync_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(sync_url(url))
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "bot.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        yield url
        _truncate_postgres(url)


@pytest.fixture
def backend(db_url: str) -> str:
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(database_url=db_url)


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.build(settings)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as c:
            yield c


@pytest.fixture
async def tokens(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Authorization headers for a read, a write and an admin token."""
    headers = {}
    async with runtime.db.transaction() as session:
        for scope in Scope:
            _row, clear = await create_token(session, f"test-{scope.value}", [scope], SYSTEM)
            headers[scope.value] = {"Authorization": f"Bearer {clear}"}
    return headers
