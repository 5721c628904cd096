"""REST API: status codes, error bodies, filters, scopes. Who may do what is tested in
tests/authz; here API tokens may do everything (the mechanics of the API are under test)."""

from __future__ import annotations

import httpx
import pytest

from bot.config import Settings, load_settings
from tests.access import OPEN_PERMISSIONS

H = dict[str, dict[str, str]]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url, permissions=OPEN_PERMISSIONS)


async def _declare(client: httpx.AsyncClient, tokens: H, **body: object) -> dict[str, object]:
    payload = {"title": "ranker p99 latency", "severity": "SEV2", **body}
    r = await client.post("/api/v1/incidents", json=payload, headers=tokens["write"])
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_declare_get_and_list(client: httpx.AsyncClient, tokens: H) -> None:
    created = await _declare(client, tokens, models=["ranker"], labels={"team": "recsys"})
    assert created["ref"] == "INC-1"
    assert created["status"] == "triggered"
    assert created["declared_by"] == "test-write"
    assert created["allowed_transitions"] == ["investigating", "identified", "mitigated", "resolved"]
    r = await client.get("/api/v1/incidents/inc-1", headers=tokens["read"])
    assert r.status_code == 200 and r.json()["title"] == "ranker p99 latency"
    page = (await client.get("/api/v1/incidents", headers=tokens["read"])).json()
    assert page["total"] == 1 and [i["ref"] for i in page["items"]] == ["INC-1"]


async def test_list_filters(client: httpx.AsyncClient, tokens: H) -> None:
    await _declare(client, tokens, labels={"team": "recsys", "env": "prod"})
    await _declare(client, tokens, severity="SEV1", labels={"team": "risk"})
    await _declare(client, tokens, severity="SEV4")
    r = await client.patch("/api/v1/incidents/INC-3", json={"status": "resolved"}, headers=tokens["write"])
    assert r.status_code == 200

    async def refs(query: str) -> list[str]:
        resp = await client.get(f"/api/v1/incidents?{query}", headers=tokens["read"])
        assert resp.status_code == 200, resp.text
        return [i["ref"] for i in resp.json()["items"]]

    assert await refs("severity=SEV1") == ["INC-2"]
    assert await refs("severity=SEV1&severity=SEV2") == ["INC-2", "INC-1"]
    assert await refs("status=resolved") == ["INC-3"]
    assert await refs("open_only=true") == ["INC-2", "INC-1"]
    assert await refs("label=team=recsys") == ["INC-1"]
    assert await refs("label=team=recsys&label=env=dev") == []
    assert await refs("since=2000-01-01T00:00:00Z&limit=1") == ["INC-3"]
    assert await refs("until=2000-01-01T00:00:00Z") == []


async def test_patch_transition_errors_name_the_allowed(client: httpx.AsyncClient, tokens: H) -> None:
    await _declare(client, tokens)
    r = await client.patch("/api/v1/incidents/INC-1", json={"status": "closed"}, headers=tokens["write"])
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "illegal_transition"
    assert body["allowed"] == ["investigating", "identified", "mitigated", "resolved"]
    assert "triggered" in body["detail"] and "closed" in body["detail"]


async def test_roles_notes_timeline(client: httpx.AsyncClient, tokens: H) -> None:
    await _declare(client, tokens)
    w = tokens["write"]
    r = await client.post(
        "/api/v1/incidents/INC-1/roles", json={"role": "commander", "assignee": "U1"}, headers=w
    )
    assert r.json() == {"role": "commander", "assignee": "U1", "previous": None, "changed": True}
    r = await client.post(
        "/api/v1/incidents/INC-1/roles", json={"role": "commander", "assignee": "U2"}, headers=w
    )
    assert r.json()["previous"] == "U1"
    r = await client.post("/api/v1/incidents/INC-1/notes", json={"text": "rolled back v7"}, headers=w)
    assert r.status_code == 201 and r.json()["kind"] == "note"
    r = await client.post("/api/v1/incidents/INC-1/acknowledge", headers=w)
    assert r.json()["status"] == "investigating"
    timeline = (await client.get("/api/v1/incidents/INC-1/timeline", headers=tokens["read"])).json()
    # The chat room (console adapter) may add its own system events meanwhile.
    events = [e for e in timeline if e["interface"] == "api"]
    assert [e["kind"] for e in events] == [
        "declared",
        "role_assigned",
        "role_handover",
        "note",
        "status_changed",
    ]
    assert all(e["actor"] == "test-write" and e["interface"] == "api" for e in events)
    after = (
        await client.get(
            f"/api/v1/incidents/INC-1/timeline?after_id={events[2]['id']}", headers=tokens["read"]
        )
    ).json()
    assert [e["kind"] for e in after if e["interface"] == "api"] == ["note", "status_changed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "severity": "SEV9"}, "severity"),
        ({"title": "x", "labels": {"bad key!": "v"}}, "labels"),
        ({"title": "x", "unknown": 1}, "unknown"),
        ({"title": "x", "models": "not-a-list"}, "models"),
    ],
)
async def test_invalid_bodies_get_422_with_the_field(
    client: httpx.AsyncClient, tokens: H, body: dict[str, object], field: str
) -> None:
    r = await client.post("/api/v1/incidents", json=body, headers=tokens["write"])
    assert r.status_code == 422
    assert any(field in [str(p) for p in e["loc"]] for e in r.json()["detail"]), r.json()


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient, tokens: H) -> None:
    r = await client.post(
        "/api/v1/incidents",
        content=b"{not json",
        headers={**tokens["write"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422


async def test_unknown_incident_404(client: httpx.AsyncClient, tokens: H) -> None:
    for path in ("/api/v1/incidents/INC-42", "/api/v1/incidents/nope", "/api/v1/incidents/INC-42/timeline"):
        r = await client.get(path, headers=tokens["read"])
        assert r.status_code == 404, path
        assert r.json()["code"] == "not_found"
    r = await client.patch("/api/v1/incidents/INC-42", json={"title": "t"}, headers=tokens["write"])
    assert r.status_code == 404


async def test_deny_by_default_and_scopes(client: httpx.AsyncClient, tokens: H) -> None:
    r = await client.get("/api/v1/incidents")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await client.get("/api/v1/incidents", headers={"Authorization": "Bearer ibot_wrong"})
    assert r.status_code == 401
    r = await client.post("/api/v1/incidents", json={"title": "t"}, headers=tokens["read"])
    assert r.status_code == 403 and "write" in r.json()["detail"]
    r = await client.get("/api/v1/audit", headers=tokens["write"])
    assert r.status_code == 403
    r = await client.get("/api/v1/incidents", headers=tokens["admin"])
    assert r.status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path


async def test_token_api_and_revocation(client: httpx.AsyncClient, tokens: H) -> None:
    r = await client.post(
        "/api/v1/tokens", json={"name": "grafana", "scopes": ["read"]}, headers=tokens["admin"]
    )
    assert r.status_code == 201
    clear = r.json()["token"]
    assert clear.startswith("ibot_")
    listed = (await client.get("/api/v1/tokens", headers=tokens["admin"])).json()
    assert clear not in repr(listed)
    assert {t["name"] for t in listed} >= {"grafana", "test-read"}
    ok = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {clear}"})
    assert ok.status_code == 200
    assert (await client.delete("/api/v1/tokens/grafana", headers=tokens["admin"])).status_code == 200
    gone = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {clear}"})
    assert gone.status_code == 401
    audit = (await client.get("/api/v1/audit", headers=tokens["admin"])).json()
    assert [a["action"] for a in audit][:3] == ["auth.failed", "token.revoked", "token.created"]
    assert (
        audit[0]["details"]
        == {
            "reason": "invalid or revoked API token",
            "status": 401,
        }
        and audit[0]["target_id"] == "GET /api/v1/incidents"
    )
    assert clear not in repr(audit)


async def test_metrics_expose_incidents_and_requests(client: httpx.AsyncClient, tokens: H) -> None:
    await _declare(client, tokens, severity="SEV1")
    text = (await client.get("/metrics")).text
    assert 'incident_bot_incidents{severity="SEV1",status="triggered"} 1.0' in text
    assert 'incident_bot_incidents{severity="SEV2",status="triggered"} 0.0' in text
    assert (
        'incident_bot_http_requests_total{method="POST",route="/api/v1/incidents",status="201"} 1.0' in text
    )
    assert "incident_bot_http_request_duration_seconds_bucket" in text


async def test_openapi_documents_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {
        "/api/v1/incidents",
        "/api/v1/incidents/{ref}",
        "/api/v1/incidents/{ref}/roles",
        "/api/v1/incidents/{ref}/timeline",
        "/api/v1/incidents/{ref}/notes",
    } <= set(spec["paths"])
    assert (await client.get("/docs")).status_code == 200
