"""API tokens: one active token per name, revoked by name; a token that acts for a person is
created by that person only; duplicates that exist before the upgrade are renamed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from bot import migrate
from bot.auth import flows
from bot.auth.actor import SYSTEM
from bot.auth.models import ApiToken
from bot.auth.service import Scope
from bot.config import Settings, load_settings
from bot.db import sync_url
from bot.errors import ConflictError, NotFoundError, PermissionDeniedError
from bot.runtime import Runtime

PEOPLE = [{"id": "alice", "tokens": ["alice-laptop"]}, {"id": "ben", "tokens": ["ben-ci"]}]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url, people=PEOPLE)


async def test_an_active_name_is_taken_once(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    admin = tokens["admin"]
    first = await client.post("/api/v1/tokens", json={"name": "grafana", "scopes": ["read"]}, headers=admin)
    again = await client.post("/api/v1/tokens", json={"name": "grafana", "scopes": ["write"]}, headers=admin)
    assert (first.status_code, again.status_code) == (201, 409)
    assert again.json()["detail"] == "an active token is named 'grafana' already"
    revoked = await client.delete("/api/v1/tokens/grafana", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    old = {"Authorization": f"Bearer {first.json()['token']}"}
    assert (await client.get("/api/v1/incidents", headers=old)).status_code == 401
    reused = await client.post("/api/v1/tokens", json={"name": "grafana", "scopes": ["read"]}, headers=admin)
    assert reused.status_code == 201  # a revoked token's name may be used again
    new = {"Authorization": f"Bearer {reused.json()['token']}"}
    assert (await client.delete("/api/v1/tokens/grafana", headers=admin)).status_code == 200
    assert (await client.get("/api/v1/incidents", headers=new)).status_code == 401
    gone = await client.delete("/api/v1/tokens/grafana", headers=admin)
    assert gone.status_code == 404 and gone.json()["detail"] == "no active token named 'grafana'"


async def test_the_database_refuses_a_second_active_name(
    client: httpx.AsyncClient, runtime: Runtime, tokens: dict[str, Any]
) -> None:
    with pytest.raises(IntegrityError):
        async with runtime.db.transaction() as session:
            session.add(ApiToken(name="test-read", prefix="ibot_x", token_hash="0" * 64, created_by="x"))


async def test_concurrent_creates_of_one_name_give_one_token(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:

    async def create() -> str:
        try:
            await flows.create_token(runtime.db, "race", [Scope.READ], SYSTEM, authz=runtime.authz)
        except ConflictError:
            return "conflict"
        return "created"

    results = await asyncio.gather(*(create() for _ in range(4)))
    assert sorted(results) == ["conflict", "conflict", "conflict", "created"]


async def test_only_its_person_creates_a_token_that_acts_for_them(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    authz, db = runtime.authz, runtime.db
    ben = authz.directory.cli_user("ben")
    with pytest.raises(
        PermissionDeniedError, match="token 'alice-laptop' acts for alice: only they may create it"
    ):
        await flows.create_token(db, "alice-laptop", [Scope.ADMIN], ben, authz=authz)
    _row, clear = await flows.create_token(
        db, "alice-laptop", [Scope.WRITE], authz.directory.cli_user("alice"), authz=authz
    )
    me = (await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {clear}"})).status_code
    assert me == 200
    await flows.revoke_token(db, "alice-laptop", ben, authz=authz)  # revoking harms no one: allowed
    with pytest.raises(NotFoundError):
        await flows.revoke_token(db, "alice-laptop", ben, authz=authz)


def test_the_upgrade_renames_active_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = migrate.alembic_config(url)
    command.upgrade(config, "0006_merge")
    engine = create_engine(sync_url(url))
    rows = [
        (1, "ci", None),
        (2, "ci", None),
        (3, "ci", "2026-01-01 00:00:00"),
        (4, "ci", None),
        (5, "grafana", None),
    ]
    with engine.begin() as conn:
        for token_id, name, revoked in rows:
            conn.execute(
                text(
                    "INSERT INTO api_token (id, name, prefix, token_hash, scopes, created_by, created_at, "
                    "revoked_at) VALUES (:i, :n, 'ibot_', :h, '[]', 'x', '2026-01-01 00:00:00', :r)"
                ),
                {"i": token_id, "n": name, "h": f"{token_id:064d}", "r": revoked},
            )
    migrate.upgrade(url)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT id, name FROM api_token ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in names] == [(1, "ci"), (2, "ci-2"), (3, "ci"), (4, "ci-4"), (5, "grafana")]
