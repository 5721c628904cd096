"""A rollback on a real MLflow, through the bot's doors: the dry-run says why a version was chosen
and which candidates there were (REST, CLI, the timeline, the approval request in chat, the run
awaiting approval), and MLflow's tags name the requester, the approvers, the run, the incident,
and the person who undid it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import Result
from sqlmodel import select
from typer.testing import CliRunner

from bot.app import create_app
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.cli import app as cli_app
from bot.config import load_settings
from bot.incident import flows as incident_flows
from bot.incident.models import TimelineEvent
from bot.runtime import Runtime
from bot.slack.room.runbook_messages import approval_request
from integrations.registry.history import moved_tag
from tests.runbook.conftest import eventually
from tests.system.fixtures.mlflow import MlflowServer, create_model, create_version, set_alias

pytestmark = pytest.mark.system

RUNBOOK = """
name: roll-back
title: Roll the alias back
owner: tests
inputs:
  model: {from: [incident.labels.model]}
approval: {required: one, approvers: [bob], four_eyes: true}
run_by: [alice, carol]
steps:
  - id: rollback
    action: registry.rollback_alias
    with: {model: "{{ inputs.model }}", alias: champion}
"""
People = dict[str, dict[str, str]]


@pytest.fixture
def model(mlflow_server: MlflowServer) -> str:
    """v1 and v2 validated, v3 not; champion → v3."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    create_model(mlflow_server.url, name)
    create_version(mlflow_server.url, name, "s3://dummy/1", {"validated": "true"})
    create_version(mlflow_server.url, name, "s3://dummy/2", {"validated": "true"})
    create_version(mlflow_server.url, name, "s3://dummy/3")
    set_alias(mlflow_server.url, name, "champion", "3")
    return name


@pytest.fixture
def config(tmp_path: Path, db_url: str, mlflow_server: MlflowServer) -> Path:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "roll-back.yaml").write_text(RUNBOOK)
    path = tmp_path / "config.yaml"
    settings = {
        "database_url": db_url,
        "runbooks_dir": str(runbooks),
        "runbooks": {"poll_interval": 0.1},
        "integrations": {"registries": {"mlflow": {"kind": "mlflow", "url": mlflow_server.url}}},
        # Three people, each acting through the API token of their name.
        "people": [{"id": name, "tokens": [name]} for name in ("alice", "bob", "carol")],
    }
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture
async def bot(config: Path) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, People]]:
    runtime = Runtime.build(load_settings(config))
    app = create_app(runtime.settings, runtime)
    people: People = {}
    async with runtime.db.transaction() as session:
        for name in ("alice", "bob", "carol"):
            _row, secret = await create_token(session, name, [Scope.WRITE], SYSTEM)
            people[name] = {"Authorization": f"Bearer {secret}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            yield runtime, client, people


async def cli(config: Path, *args: str) -> Result:
    """The CLI in a thread: it runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli_app, ["--config", str(config), *args])


async def moved(url: str, model: str, version: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get(
            "/api/2.0/mlflow/model-versions/get", params={"name": model, "version": version}
        )
    tags = {t["key"]: t["value"] for t in response.json()["model_version"].get("tags", [])}
    value: dict[str, Any] = json.loads(tags[moved_tag("champion")])
    return value


async def settled(
    client: httpx.AsyncClient, headers: dict[str, str], ref: str, status: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f"/api/v1/runs/{ref}", headers=headers)).json()
        return run if run["status"] == status else None

    found: dict[str, Any] = await eventually(check, timeout_s=60)
    return found


async def test_the_dry_run_says_why_and_mlflow_records_who(
    bot: tuple[Runtime, httpx.AsyncClient, People],
    config: Path,
    model: str,
    mlflow_server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime, client, people = bot
    created = await client.post(
        "/api/v1/incidents",
        json={"title": "fraud errors", "severity": "SEV2", "labels": {"model": model}},
        headers=people["alice"],
    )
    incident = created.json()["ref"]

    # REST: the plan carries the action's details.
    planned = await client.post(
        "/api/v1/runbooks/roll-back/plan", json={"incident": incident}, headers=people["alice"]
    )
    (step,) = planned.json()["steps"]
    assert step["summary"] == f"alias champion of {model}: v3 → v2"
    assert step["details"]["reason"] == "newest version older than v3 tagged validated=true"
    assert [c.split(" ")[0] for c in step["details"]["candidates"]] == ["v2", "v1"]
    assert step["details"]["candidates"][0].startswith("v2 (READY, validated, ")

    # The timeline: the dry-run event says why, in its text and its data.
    timeline = await incident_flows.get_timeline(runtime.db, incident)
    (dry,) = [e for e in timeline if e.kind == "runbook_dry_run"]
    assert "why: newest version older than v3 tagged validated=true" in dry.text
    assert dry.data["steps"][0]["details"]["candidates"] == step["details"]["candidates"]

    # The CLI prints the same line.
    monkeypatch.setenv("COLUMNS", "250")
    result = await cli(config, "--as", "alice", "runbook", "run", "roll-back", "-i", incident, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "why: newest version older than v3 tagged validated=true" in result.output
    assert "candidates: v2 (READY, validated" in result.output

    # The run awaits approval with its plan: API, CLI, the approval request.
    requested = await client.post(
        "/api/v1/runs", json={"runbook": "roll-back", "incident": incident}, headers=people["alice"]
    )
    assert requested.status_code == 201, requested.text
    run = requested.json()
    assert run["status"] == "awaiting_approval"
    assert run["plan"][0]["details"]["reason"] == step["details"]["reason"]
    result = await cli(config, "runbook", "runs", run["ref"])
    assert result.exit_code == 0, result.output
    assert "the plan it awaits approval on" in result.output
    assert f"alias champion of {model}: v3 → v2" in result.output and "why: newest version" in result.output
    async with runtime.db.session() as session:
        (asked,) = (
            await session.exec(
                select(TimelineEvent).where(TimelineEvent.kind == "runbook_approval_requested")
            )
        ).all()
    assert asked.data["plan"][0]["details"]["reason"] == step["details"]["reason"]
    message = json.dumps(approval_request(incident, asked))
    assert "why: newest version older than v3 tagged validated=true" in message

    # Four eyes by two people (each through their API token): alice asked, bob approves.
    approved = await client.post(f"/api/v1/runs/{run['ref']}/approve", headers=people["bob"])
    assert approved.status_code == 200, approved.text
    await settled(client, people["alice"], run["ref"], "succeeded")
    tag = await moved(mlflow_server.url, model, "2")
    assert tag["action"] == "rollback" and tag["from"] == "3"
    assert (tag["by"], tag["requested_by"], tag["approved_by"]) == ("alice", "alice", ["bob"])
    assert (tag["incident"], tag["run"], tag["step"]) == (incident, run["ref"], "rollback")

    # carol undoes it: the alias move back is hers.
    # The undo follows the run's approval policy: bob approves it too.
    undone = await client.post(f"/api/v1/runs/{run['ref']}/undo", headers=people["carol"])
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "awaiting_approval"
    approved = await client.post(f"/api/v1/runs/{run['ref']}/approve", headers=people["bob"])
    assert approved.status_code == 200, approved.text
    await settled(client, people["alice"], run["ref"], "undone")
    tag = await moved(mlflow_server.url, model, "3")
    assert (tag["action"], tag["from"], tag["by"]) == ("set", "2", "carol")
    assert (tag["requested_by"], tag["approved_by"], tag["run"]) == ("alice", ["bob"], run["ref"])
