"""Failed authentication is audited at a bounded rate per source; a signed webhook is accepted
once (a replay is refused, a request that was not stored may be sent again)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlmodel import col, select

from bot.audit.failures import AuthFailures
from bot.audit.models import AuditEntry
from bot.auth.actor import Interface
from bot.db import Database
from bot.runtime import Runtime
from tests.alert.conftest import Bot, auth_headers, bot, bot_factory, fixture

__all__ = ["bot", "bot_factory"]


async def failures(db: Database) -> list[dict[str, Any]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AuditEntry).where(AuditEntry.action == "auth.failed").order_by(col(AuditEntry.id))
            )
        ).all()
    return [
        {"who": r.actor, "kind": r.actor_kind, "door": r.interface, "target": r.target_id, **r.details}
        for r in rows
    ]


async def test_api_authentication_failures_are_audited(
    client: httpx.AsyncClient, runtime: Runtime, tokens: dict[str, Any]
) -> None:
    assert (await client.get("/api/v1/incidents")).status_code == 401
    wrong = {"Authorization": "Bearer ibot_guessed"}
    assert (await client.post("/api/v1/incidents", json={"title": "t"}, headers=wrong)).status_code == 401
    assert (await client.get("/api/v1/audit", headers=tokens["write"])).status_code == 403
    assert await failures(runtime.db) == [
        {
            "who": "127.0.0.1",
            "kind": "anonymous",
            "door": "api",
            "target": "GET /api/v1/incidents",
            "reason": "missing API token",
            "status": 401,
        },
        {
            "who": "127.0.0.1",
            "kind": "anonymous",
            "door": "api",
            "target": "POST /api/v1/incidents",
            "reason": "invalid or revoked API token",
            "status": 401,
        },
        {
            "who": "127.0.0.1",
            "kind": "anonymous",
            "door": "api",
            "target": "GET /api/v1/audit",
            "reason": "token 'test-write' lacks the 'admin' scope",
            "status": 403,
        },
    ]
    assert "ibot_guessed" not in repr(await failures(runtime.db))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_of_failures_is_audited_at_a_bounded_rate_per_source(db: Database) -> None:
    clock = Clock()
    audited = AuthFailures(db, per_minute=2, clock=clock)

    async def fail(source: str) -> bool:
        return await audited.record(
            Interface.API, source, target_type="endpoint", target_id="GET /", reason="bad"
        )

    assert [await fail("10.0.0.1") for _ in range(5)] == [True, True, False, False, False]
    assert await fail("10.0.0.2")  # another source has its own budget
    clock.now = 61
    assert await fail("10.0.0.1")
    rows = await failures(db)
    assert [(r["who"], r.get("suppressed")) for r in rows] == [
        ("10.0.0.1", None),
        ("10.0.0.1", None),
        ("10.0.0.2", None),
        ("10.0.0.1", 3),  # the count of those left out, on the next one written
    ]


async def test_webhook_authentication_failures_are_audited(bot: Bot) -> None:
    payload = fixture("alertmanager_v4_firing.json")
    wrong = await bot.post("alertmanager", payload, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert await failures(bot.runtime.db) == [
        {
            "who": "127.0.0.1",
            "kind": "anonymous",
            "door": "webhook",
            "target": "alertmanager",
            "reason": "bearer token does not match",
            "status": 401,
        }
    ]


async def test_a_signed_webhook_is_accepted_once(bot: Bot) -> None:
    for source, name in (
        ("generic", "ml_monitor_generic_firing.json"),
        ("grafana", "grafana_webhook_firing.json"),
    ):
        body = json.dumps(fixture(name)).encode()
        headers = {"Content-Type": "application/json", **auth_headers(source, body, bot.clock())}
        first = await bot.client.post(f"/webhooks/{source}", content=body, headers=headers)
        replay = await bot.client.post(f"/webhooks/{source}", content=body, headers=headers)
        assert (first.status_code, replay.status_code) == (202, 401), (source, replay.text)
        assert replay.json()["detail"] == "this signed request was received before: a replay is refused"
    assert len(await bot.inbox()) == 2
    assert [(r["target"], r["reason"]) for r in await failures(bot.runtime.db)] == [
        ("generic", "this signed request was received before: a replay is refused"),
        ("grafana", "this signed request was received before: a replay is refused"),
    ]


async def test_a_signed_webhook_that_was_not_stored_may_be_sent_again(bot: Bot) -> None:
    """Refused after authentication (here: not JSON), nothing was stored: the same signed
    request is read again rather than refused as a replay (a sender retries what failed)."""
    body = b"{not json"
    headers = {"Content-Type": "application/json", **auth_headers("generic", body, bot.clock())}
    first = await bot.client.post("/webhooks/generic", content=body, headers=headers)
    again = await bot.client.post("/webhooks/generic", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (400, 400)
    assert await failures(bot.runtime.db) == []
