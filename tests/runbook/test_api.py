"""REST: runbooks, dry-runs, runs, approvals, undo; the worker executes runs in the background."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.events import AutoRunRequested
from bot.incident import flows as incident_flows
from bot.runbook.install import installed
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import WriteRunbook, eventually, make_runtime

Headers = dict[str, dict[str, str]]

SET_K = """
inputs:
  value: {type: integer, default: 1}
when:
  - {labels: {alertname: "Drift*"}}
run_by: ["role:commander", "token:test-write"]
steps:
  - {id: set, action: test.set, with: {key: k, value: "{{ inputs.value }}"}}
"""
GUARDED = (
    SET_K
    + """
approval: {required: one, approvers: ["lee", "kim"]}
"""
)
#: The write token acts for kim, the admin token for lee: people approve, tokens do not.
PEOPLE = [{"id": "kim", "tokens": ["test-write"]}, {"id": "lee", "tokens": ["test-admin"]}]


@pytest.fixture
async def rt(db_url: str, runbooks_dir: Path, store: Store) -> AsyncIterator[Runtime]:
    runtime = make_runtime(db_url, runbooks_dir, store, people=PEOPLE)
    yield runtime
    await runtime.db.dispose()


async def declare(client: httpx.AsyncClient, tokens: Headers, **extra: Any) -> str:
    body = {"title": "drift", "severity": "SEV2", **extra}
    response = await client.post("/api/v1/incidents", json=body, headers=tokens["write"])
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def finished(client: httpx.AsyncClient, tokens: Headers, ref: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = (await client.get(f"/api/v1/runs/{ref}", headers=tokens["read"])).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled", "undone") else None

    result: dict[str, Any] = await eventually(check)
    return result


async def test_runbooks_are_listed_and_shown(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook
) -> None:
    write_runbook("set-k", SET_K)
    write_runbook("broken", "steps: []\n")
    listed = (await client.get("/api/v1/runbooks", headers=tokens["read"])).json()
    assert [r["name"] for r in listed["runbooks"]] == ["set-k"]
    [invalid] = listed["invalid"]
    assert invalid["file"].endswith("broken.yaml") and "field steps" in invalid["errors"][0]
    shown = (await client.get("/api/v1/runbooks/set-k", headers=tokens["read"])).json()
    assert shown["inputs"]["value"]["type"] == "integer"
    assert shown["approval"]["required"] == "none" and shown["steps"][0]["action"] == "test.set"
    missing = await client.get("/api/v1/runbooks/nope", headers=tokens["read"])
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = await client.get("/api/v1/runbooks/broken", headers=tokens["read"])
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_runbook"
    assert (await client.get("/api/v1/runbooks")).status_code == 401


async def test_dry_run_changes_nothing_and_lands_on_the_timeline(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook, store: Store
) -> None:
    write_runbook("set-k", SET_K)
    store.values["k"] = 0
    incident = await declare(client, tokens)
    response = await client.post(
        "/api/v1/runbooks/set-k/plan",
        json={"incident": incident, "inputs": {"value": "5"}},
        headers=tokens["write"],
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["inputs"] == {"value": 5}
    [step] = plan["steps"]
    assert (step["summary"], step["target"], step["changes"], step["error"]) == (
        "k: 0 → 5",
        "store:k",
        True,
        None,
    )
    assert store.applies == [] and store.values == {"k": 0}
    timeline = (await client.get(f"/api/v1/incidents/{incident}/timeline", headers=tokens["read"])).json()
    (dry_run,) = [e for e in timeline if e["kind"] == "runbook_dry_run"]
    assert dry_run["data"]["steps"][0]["summary"] == "k: 0 → 5"
    bad = await client.post(
        "/api/v1/runbooks/set-k/plan",
        json={"incident": incident, "inputs": {"value": "x"}},
        headers=tokens["write"],
    )
    assert bad.status_code == 422 and "input value must be a integer" in bad.json()["detail"]
    unknown = await client.post(
        "/api/v1/runbooks/set-k/plan", json={"incident": "INC-99"}, headers=tokens["write"]
    )
    assert unknown.status_code == 404
    read_only = await client.post(
        "/api/v1/runbooks/set-k/plan", json={"incident": incident}, headers=tokens["read"]
    )
    assert read_only.status_code == 403


async def test_a_run_started_over_the_api_executes_in_the_background(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook, store: Store
) -> None:
    write_runbook("set-k", SET_K)
    incident = await declare(client, tokens)
    response = await client.post(
        "/api/v1/runs", json={"runbook": "set-k", "incident": incident}, headers=tokens["write"]
    )
    assert response.status_code == 201, response.text
    ref = response.json()["ref"]
    run = await finished(client, tokens, ref)
    assert run["status"] == "succeeded" and run["requested_by"] == "kim"  # the person behind the token
    assert store.values == {"k": 1}
    listed = (
        await client.get(f"/api/v1/runs?incident={incident}&status=succeeded", headers=tokens["read"])
    ).json()
    assert [r["ref"] for r in listed["items"]] == [ref]
    undo = await client.post(f"/api/v1/runs/{ref}/undo", headers=tokens["write"])
    assert undo.status_code == 200 and undo.json()["status"] == "undoing"
    assert (await finished(client, tokens, ref))["status"] == "undone"
    assert store.values == {"k": None}
    again = await client.post(f"/api/v1/runs/{ref}/undo", headers=tokens["write"])
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    metrics = (await client.get("/metrics")).text
    assert 'incident_bot_runbook_runs_requested_total{origin="manual",runbook="set-k"} 1.0' in metrics
    assert 'incident_bot_runbook_runs_finished_total{runbook="set-k",status="undone"} 1.0' in metrics
    assert (
        'incident_bot_runbook_steps_total{action="test.set",phase="undo",status="succeeded"} 1.0' in metrics
    )


async def test_approval_over_the_api(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook, store: Store
) -> None:
    write_runbook("guarded", GUARDED)
    incident = await declare(client, tokens)
    ref = (
        await client.post(
            "/api/v1/runs", json={"runbook": "guarded", "incident": incident}, headers=tokens["write"]
        )
    ).json()["ref"]
    approvers = (await client.get(f"/api/v1/runs/{ref}/approvers", headers=tokens["read"])).json()
    assert approvers["principals"] == ["lee", "kim"] and approvers["remaining"] == 1
    busy = await client.post(
        "/api/v1/runs", json={"runbook": "guarded", "incident": incident}, headers=tokens["write"]
    )
    assert busy.status_code == 409 and busy.json() == {
        "detail": f"already running: {ref} holds store:k",
        "code": "already_running",
        "hint": f"wait for {ref} to finish, or cancel it",
        "run": ref,
        "target": "store:k",
    }
    approved = await client.post(f"/api/v1/runs/{ref}/approve", headers=tokens["admin"])
    assert approved.status_code == 200, approved.text
    assert (await finished(client, tokens, ref))["status"] == "succeeded"
    assert store.values == {"k": 1}

    second = (
        await client.post(
            "/api/v1/runs", json={"runbook": "guarded", "incident": incident}, headers=tokens["write"]
        )
    ).json()["ref"]
    own = await client.post(f"/api/v1/runs/{second}/approve", headers=tokens["write"])
    assert own.status_code == 403 and "four eyes" in own.json()["detail"]
    denied = await client.post(
        f"/api/v1/runs/{second}/deny", json={"reason": "not now"}, headers=tokens["admin"]
    )
    assert denied.status_code == 200 and denied.json()["end_reason"] == "denied"
    late = await client.post(f"/api/v1/runs/{second}/approve", headers=tokens["admin"])
    assert late.status_code == 409


async def test_client_mistakes_are_4xx(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook
) -> None:
    write_runbook("set-k", SET_K)
    incident = await declare(client, tokens)
    cases = [
        ("/api/v1/runs", {"runbook": "set-k"}, 422),
        ("/api/v1/runs", {"runbook": "set-k", "incident": incident, "inputs": {"nope": 1}}, 422),
        ("/api/v1/runs", {"runbook": "set-k", "incident": incident, "inputs": {"value": [1]}}, 422),
        ("/api/v1/runs", {"runbook": "nope", "incident": incident}, 404),
        ("/api/v1/runs", {"runbook": "set-k", "incident": "bogus"}, 404),
        ("/api/v1/runs/RUN-77/approve", None, 404),
        ("/api/v1/runs/garbage/cancel", None, 404),
    ]
    for path, body, expected in cases:
        response = await client.post(path, json=body, headers=tokens["write"])
        assert response.status_code == expected, (path, body, response.text)
    assert (await client.get("/api/v1/runs/RUN-5", headers=tokens["read"])).status_code == 404


async def test_suggested_runbooks(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook
) -> None:
    write_runbook("set-k", SET_K)
    write_runbook("other", SET_K.replace("Drift*", "Latency*"))
    incident = await declare(client, tokens, labels={"alertname": "DriftHigh"}, suggested_runbooks=["other"])
    suggested = (
        await client.get(f"/api/v1/incidents/{incident}/suggested-runbooks", headers=tokens["read"])
    ).json()
    assert suggested == [
        {"name": "other", "title": "other runbook", "reasons": ["routing rule"]},
        {"name": "set-k", "title": "set-k runbook", "reasons": ["when #1"]},
    ]


async def test_auto_run_starts_once_per_incident(
    client: httpx.AsyncClient, tokens: Headers, write_runbook: WriteRunbook, runtime: Runtime, store: Store
) -> None:
    write_runbook("set-k", SET_K)
    incident = await declare(client, tokens)
    incident_id = int(incident.removeprefix("INC-"))
    request = AutoRunRequested(incident_id=incident_id, runbook="set-k", inputs={"value": "7"}, rule="drift")
    runtime.bus.publish([request])

    async def auto_runs() -> list[dict[str, Any]]:
        items = (await client.get(f"/api/v1/runs?incident={incident}", headers=tokens["read"])).json()[
            "items"
        ]
        return [r for r in items if r["origin"] == "auto" and r["status"] == "succeeded"]

    [run] = await eventually(auto_runs)
    assert (run["rule"], run["requested_by"], store.values) == ("drift", "rule:drift", {"k": 7})
    runtime.bus.publish([request, request])
    worker = installed(runtime)
    assert worker is not None
    await worker.idle()
    manual = await client.post(
        "/api/v1/runs", json={"runbook": "set-k", "incident": incident}, headers=tokens["write"]
    )
    assert manual.status_code == 201  # a person may start it again
    await finished(client, tokens, manual.json()["ref"])
    runs = (await client.get(f"/api/v1/runs?incident={incident}", headers=tokens["read"])).json()["items"]
    assert sorted(r["origin"] for r in runs) == ["auto", "manual"]
    runtime.bus.publish([AutoRunRequested(incident_id=incident_id, runbook="nope", inputs={}, rule="drift")])

    async def refused() -> list[Any]:
        events = await incident_flows.get_timeline(runtime.db, incident)
        return [e for e in events if e.kind == "runbook_auto_run_refused"]

    [event] = await eventually(refused)
    assert event.data["runbook"] == "nope" and "does not exist" in event.data["error"]
