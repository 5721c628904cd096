"""A routing rule's auto-run when its incident comes back: it does not start twice, and the
timeline says why and offers the runbook again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.config import load_settings
from bot.errors import NotFoundError
from bot.incident import flows as incident_flows
from bot.incident.domain import Status
from bot.incident.schemas import IncidentUpdate
from bot.runbook import flows
from bot.runtime import Runtime
from integrations.wiring import Integrations
from tests.alert.conftest import SECRETS, SOURCES, am_payload
from tests.runbook.actions import Store, make_registry
from tests.runbook.conftest import FAST, WriteRunbook, eventually

GROUP = {"alertname": "DriftHigh", "model": "fraud"}
ROUTES = [
    {
        "name": "drift",
        "matchers": ['alertname="DriftHigh"'],
        "severity": "SEV2",
        "auto_run": [{"runbook": "set-k", "inputs": {"value": "7"}}],
    }
]
SET_K = """
inputs:
  value: {type: integer}
steps:
  - {id: set, action: test.set, with: {key: k, value: "{{ inputs.value }}"}}
"""


@pytest.fixture
async def bot(
    db_url: str, runbooks_dir: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(
        database_url=db_url,
        runbooks_dir=runbooks_dir,
        runbooks=FAST,
        alerts={"sources": SOURCES, "routes": ROUTES, "processor": {"linger_s": 0}},
        # The rule's run starts at once: its runbook is opted out of the approval floor.
        permissions={"runs_without_approval": ["set-k"]},
    )
    runtime = Runtime.build(settings)
    runtime.integrations = Integrations(make_registry(store))
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            yield runtime, client
    await runtime.db.dispose()


async def page(client: httpx.AsyncClient, status: str, starts: str) -> None:
    alert: dict[str, Any] = {"labels": GROUP, "status": status, "startsAt": starts}
    if status == "resolved":
        alert["endsAt"] = "2026-11-20T05:00:00Z"
    body = json.dumps(am_payload([alert], group=GROUP)).encode()
    headers = {"Authorization": f"Bearer {SECRETS['AM_TOKEN']}", "Content-Type": "application/json"}
    response = await client.post("/webhooks/alertmanager", content=body, headers=headers)
    assert response.status_code == 202, response.text


async def test_a_reopened_incident_says_why_its_auto_run_does_not_start_again_and_offers_it(
    bot: tuple[Runtime, httpx.AsyncClient], write_runbook: WriteRunbook, store: Store
) -> None:
    runtime, client = bot
    write_runbook("set-k", SET_K)
    await page(client, "firing", "2026-11-20T03:00:00Z")

    async def first_run() -> list[Any]:
        try:
            runs = await flows.list_runs(runtime, incident_ref="INC-1")
        except NotFoundError:  # the alert is not processed yet
            return []
        return [r for r in runs if r.status == "succeeded"]

    (run,) = await eventually(first_run)
    assert (run.origin, run.rule) == ("auto", "drift")
    await page(client, "resolved", "2026-11-20T03:00:00Z")
    await incident_flows.update_incident(
        runtime.db, "INC-1", IncidentUpdate(status=Status.RESOLVED), SYSTEM, authz=runtime.authz
    )

    await page(client, "firing", "2026-11-20T06:00:00Z")  # the same group fires again: reopened

    async def skipped() -> list[Any]:
        timeline = await incident_flows.get_timeline(runtime.db, "INC-1")
        return [e for e in timeline if e.kind == "runbook_auto_run_skipped"]

    (event,) = await eventually(skipped)
    data = event.data
    assert (data["runbook"], data["rule"], data["previous_run"]) == ("set-k", "drift", run.ref)
    assert event.data["reopened"] is True and event.data["offered"] is True
    assert "did not start set-k again" in event.text and f"{run.ref} ran when it opened" in event.text
    incident = await incident_flows.get_incident(runtime.db, "INC-1")
    assert incident.status == Status.INVESTIGATING and incident.suggested_runbooks == ["set-k"]
    suggested = await flows.suggested_for(runtime, "INC-1")
    assert [s.name for s in suggested] == ["set-k"] and suggested[0].reasons == ["routing rule"]
    assert len(await flows.list_runs(runtime, incident_ref="INC-1")) == 1
    assert store.applied("k") == [7]
