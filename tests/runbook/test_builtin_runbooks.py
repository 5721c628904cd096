"""The runbooks shipped in runbooks/: they validate against the real actions' parameters, and
each dry-runs, runs and undoes cleanly through the API and the CLI, on the shipped permission
defaults (every run that changes something, and its undo, is approved by a second person)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.cli import runbook_cmd
from bot.config import DEFAULT_RUNBOOKS_DIR, Settings
from bot.runbook.loader import check_file, runbook_files
from bot.runtime import Runtime
from integrations.wiring import Integrations
from tests.runbook.actions import Store
from tests.runbook.conftest import eventually, make_runtime
from tests.runbook.standins import shipped_registry, standin_registry

SHIPPED = [
    "disable-naive-fallback",
    "enable-naive-fallback",
    "pause-retraining",
    "resume-retraining",
    "rollback-model",
]
ERROR_RATE = 'model:prediction_errors:ratio_rate5m{model="fraud"}'
Headers = dict[str, dict[str, str]]


def test_the_shipped_runbooks_validate() -> None:
    files = runbook_files([DEFAULT_RUNBOOKS_DIR])
    assert sorted(f.stem for f in files) == SHIPPED
    actions = shipped_registry()
    for path in files:
        report = check_file(path, actions)
        assert report.ok, [str(e) for e in report.errors]


@pytest.fixture
def fraud(store: Store) -> Store:
    """The systems around the fraud model: alias champion at v7, v5 and v6 validated."""
    store.values.update(
        {"alias:fraud@champion": "7", "versions:fraud": ["5", "6"], f"metric:{ERROR_RATE}": 0.01}
    )
    return store


#: The write token acts for kim (who runs runbooks), the admin token for lee (who approves).
PEOPLE = [{"id": "kim", "tokens": ["test-write"]}, {"id": "lee", "tokens": ["test-admin"]}]


@pytest.fixture
async def rt(db_url: str, fraud: Store) -> AsyncIterator[Runtime]:
    shipped = {"runs_without_approval": []}  # the default: no run changes systems unapproved
    runtime = make_runtime(db_url, DEFAULT_RUNBOOKS_DIR, fraud, permissions=shipped, people=PEOPLE)
    runtime.integrations = Integrations(standin_registry(fraud))
    yield runtime
    await runtime.db.dispose()


async def declare(client: httpx.AsyncClient, tokens: Headers, severity: str) -> str:
    """kim declares (so she is a responder) with lee as a responder; each takes an empty role:
    kim operations (she may run runbooks), lee commander (he approves them)."""
    body = {
        "title": "fraud model errors",
        "severity": severity,
        "labels": {"model": "fraud"},
        "models": ["fraud"],
        "responders": ["lee"],
    }
    response = await client.post("/api/v1/incidents", json=body, headers=tokens["write"])
    ref = str(response.json()["ref"])
    for role, person, token in (("operations", "kim", "write"), ("commander", "lee", "admin")):
        taken = await client.post(
            f"/api/v1/incidents/{ref}/roles", json={"role": role, "assignee": person}, headers=tokens[token]
        )
        assert taken.status_code == 200, taken.text
    return ref


async def plan(client: httpx.AsyncClient, tokens: Headers, runbook: str, incident: str) -> list[str]:
    response = await client.post(
        f"/api/v1/runbooks/{runbook}/plan", json={"incident": incident}, headers=tokens["write"]
    )
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert all(s["error"] is None for s in steps), steps
    return [s["summary"] for s in steps]


async def run_to_end(
    client: httpx.AsyncClient, tokens: Headers, runbook: str, incident: str
) -> dict[str, Any]:
    started = await client.post(
        "/api/v1/runs", json={"runbook": runbook, "incident": incident}, headers=tokens["write"]
    )
    assert started.status_code == 201, started.text
    ref = started.json()["ref"]
    if started.json()["status"] == "awaiting_approval":
        approved = await client.post(f"/api/v1/runs/{ref}/approve", headers=tokens["admin"])
        assert approved.status_code == 200, approved.text
    return await settled(client, tokens, ref)


async def settled(client: httpx.AsyncClient, tokens: Headers, ref: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = (await client.get(f"/api/v1/runs/{ref}", headers=tokens["read"])).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled", "undone") else None

    result: dict[str, Any] = await eventually(check)
    return result


async def undo(client: httpx.AsyncClient, tokens: Headers, ref: str) -> dict[str, Any]:
    """kim asks for the undo; it follows the run's approval policy, so lee approves it."""
    response = await client.post(f"/api/v1/runs/{ref}/undo", headers=tokens["write"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "awaiting_approval"
    assert response.json()["approval_phase"] == "undo"
    approved = await client.post(f"/api/v1/runs/{ref}/approve", headers=tokens["admin"])
    assert approved.status_code == 200, approved.text
    return await settled(client, tokens, ref)


async def test_rollback_model(client: httpx.AsyncClient, tokens: Headers, fraud: Store) -> None:
    incident = await declare(client, tokens, "SEV2")
    assert await plan(client, tokens, "rollback-model", incident) == [
        "alias champion of fraud: v7 → v6",
        "fraud served: v7 → v6",
        f"wait until {ERROR_RATE} < 0.05",
    ]
    run = await run_to_end(client, tokens, "rollback-model", incident)
    assert run["status"] == "succeeded" and run["approvals_required"] == 1
    assert fraud.values["alias:fraud@champion"] == "6" and fraud.values["served:fraud"] == "6"
    assert run["steps"][2]["after"] == {"value": 0.01}
    undone = await undo(client, tokens, run["ref"])
    assert undone["status"] == "undone"
    # The serving layer follows the alias: it is undone after the alias is back.
    assert [(u["step"], u["action"], u["summary"]) for u in undone["undo_steps"]] == [
        ("serve", "serving.ensure_version", "fraud served: v6 → v7"),
        ("rollback", "registry.set_alias", "alias champion of fraud: v6 → v7"),
    ]
    order = [a[0] for a in fraud.applies[-2:]]
    assert order == ["registry.set_alias", "serving.ensure_version"]
    assert fraud.values["alias:fraud@champion"] == "7" and fraud.values["served:fraud"] == "7"


async def test_rollback_model_whose_check_fails_keeps_the_rollback(
    client: httpx.AsyncClient, tokens: Headers, fraud: Store
) -> None:
    fraud.values[f"metric:{ERROR_RATE}"] = 0.2
    run = await run_to_end(client, tokens, "rollback-model", await declare(client, tokens, "SEV1"))
    # SEV1: none in the runbook, but the shipped permissions list no runbook to run unapproved.
    assert run["status"] == "failed" and run["approvals_required"] == 1
    assert run["error"].startswith(f"step verify: {ERROR_RATE} is 0.2, not < 0.05")
    assert fraud.values["alias:fraud@champion"] == "6"


async def test_naive_fallback_on_and_off(client: httpx.AsyncClient, tokens: Headers, fraud: Store) -> None:
    incident = await declare(client, tokens, "SEV1")
    assert await plan(client, tokens, "enable-naive-fallback", incident) == [
        "fraud: primary → fallback fraud-baseline",
        "fraud serves healthily",
    ]
    on = await run_to_end(client, tokens, "enable-naive-fallback", incident)
    assert on["status"] == "succeeded" and fraud.values["fallback:fraud"] is True
    assert await plan(client, tokens, "disable-naive-fallback", incident) == [
        "fraud: fallback fraud-baseline → primary",
        "fraud serves healthily",
    ]
    off = await run_to_end(client, tokens, "disable-naive-fallback", incident)
    assert off["status"] == "succeeded" and off["approvals_required"] == 1
    assert fraud.values["fallback:fraud"] is False
    assert (await undo(client, tokens, off["ref"]))["status"] == "undone"
    assert fraud.values["fallback:fraud"] is True
    assert (await undo(client, tokens, on["ref"]))["status"] == "undone"
    assert fraud.values["fallback:fraud"] is False


async def test_fallback_that_does_not_get_healthy_is_undone(
    client: httpx.AsyncClient, tokens: Headers, fraud: Store
) -> None:
    fraud.values["healthy:fraud"] = False
    run = await run_to_end(client, tokens, "enable-naive-fallback", await declare(client, tokens, "SEV1"))
    assert run["status"] == "undone" and run["error"].startswith("step healthy: fraud is not ready")
    assert fraud.values["fallback:fraud"] is False


async def test_pause_and_resume_retraining(client: httpx.AsyncClient, tokens: Headers, fraud: Store) -> None:
    incident = await declare(client, tokens, "SEV3")
    assert await plan(client, tokens, "pause-retraining", incident) == [
        "schedule retrain-fraud: active → paused"
    ]
    paused = await run_to_end(client, tokens, "pause-retraining", incident)
    assert paused["status"] == "succeeded" and paused["approvals_required"] == 1
    assert paused["inputs"] == {"schedule": "retrain-fraud", "orchestrator": None}
    assert fraud.values["paused:retrain-fraud"] is True
    assert await plan(client, tokens, "resume-retraining", incident) == [
        "schedule retrain-fraud: paused → active"
    ]
    resumed = await run_to_end(client, tokens, "resume-retraining", incident)
    assert resumed["status"] == "succeeded" and fraud.values["paused:retrain-fraud"] is False
    assert (await undo(client, tokens, resumed["ref"]))["status"] == "undone"
    assert fraud.values["paused:retrain-fraud"] is True
    assert (await undo(client, tokens, paused["ref"]))["status"] == "undone"
    assert fraud.values["paused:retrain-fraud"] is False


runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    who = [] if args[0] == "--as" else ["--as", "carol"]
    result = runner.invoke(cli_app, [*who, *args])
    return result.exit_code, result.output


def test_the_cli_validates_dry_runs_runs_and_undoes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fraud: Store
) -> None:
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text('groups: {"@ml-oncall": [erin]}\n')  # approvers of the shipped runbooks
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(config))

    def runtime_with_standins(settings: Settings) -> Runtime:
        runtime = Runtime.build(settings)
        runtime.integrations = Integrations(standin_registry(fraud))
        return runtime

    code, out = cli("runbook", "validate")  # the real registry: every kind, no instance configured
    assert code == 0 and "5 file(s) checked, 0 with errors" in out, out
    code, out = cli("runbook", "validate", str(DEFAULT_RUNBOOKS_DIR / "rollback-model.yaml"), "/nowhere.yaml")
    assert code == 1 and "ok    " in out and "cannot read" in out

    monkeypatch.setattr(runbook_cmd, "build_runtime", runtime_with_standins)
    code, out = cli("runbook", "list")
    assert code == 0 and all(name in out for name in SHIPPED)
    code, out = cli("runbook", "show", "rollback-model")
    assert code == 0 and "registry.rollback_alias" in out and "approval: one (SEV1: none) (four eyes)" in out

    assert cli("db", "upgrade")[0] == 0
    assert (
        cli("incident", "declare", "--title", "fraud errors", "--severity", "SEV1", "--model", "fraud")[0]
        == 0
    )
    code, out = cli("runbook", "run", "rollback-model", "--incident", "INC-1", "--dry-run")
    assert code == 0 and "alias champion of fraud: v7 → v6" in out, out
    assert "a run needs 1 approval(s) from role:commander, @ml-oncall, not the requester" in out
    code, out = cli("runbook", "run", "rollback-model", "--incident", "INC-1")
    assert code == 2 and "carol may not run runbook rollback-model" in out
    assert cli("incident", "assign", "INC-1", "commander", "carol")[0] == 0  # she declared it
    code, out = cli(
        "runbook", "run", "rollback-model", "--incident", "INC-1", "--input", "max_error_rate=0.5"
    )
    assert code == 0 and "RUN-1 rollback-model on INC-1: awaiting_approval" in out, out
    assert fraud.values["alias:fraud@champion"] == "7"
    code, out = cli("--as", "erin", "runbook", "approve", "RUN-1")
    assert code == 0 and "RUN-1 rollback-model on INC-1: succeeded" in out, out
    assert fraud.values["alias:fraud@champion"] == "6"
    code, out = cli("runbook", "undo", "RUN-1")
    assert code == 0 and "RUN-1 rollback-model on INC-1: awaiting_approval" in out, out
    code, out = cli("runbook", "approve", "RUN-1")
    assert code == 2 and "four eyes: the undo of RUN-1 was requested by carol" in out
    code, out = cli("--as", "erin", "runbook", "approve", "RUN-1")
    assert code == 0 and "RUN-1 rollback-model on INC-1: undone" in out and "v6 → v7" in out, out
    assert fraud.values["alias:fraud@champion"] == "7"
    code, out = cli("runbook", "runs", "--incident", "INC-1")
    assert code == 0 and "RUN-1" in out and "undone" in out
    code, out = cli("runbook", "run", "disable-naive-fallback", "--incident", "INC-1")
    assert code == 0 and "RUN-2" in out and "awaits 1 approval(s)" in out, out
    code, out = cli("runbook", "runs", "RUN-2")  # the plan its approvers are asked about
    assert code == 0 and "the plan it awaits approval on" in out, out
    assert "fraud: primary → primary" in out and "fraud serves healthily" in out
    code, out = cli("runbook", "approve", "RUN-2")
    assert code == 2 and "four eyes" in out
    code, out = cli("--as", "dave", "runbook", "approve", "RUN-2")
    assert code == 2 and "dave may not approve RUN-2" in out
    code, out = cli("runbook", "deny", "RUN-2", "--reason", "the primary is still broken")
    assert code == 1 and "RUN-2 disable-naive-fallback on INC-1: cancelled" in out  # carol is an approver
    assert "ended: denied by carol" in out and "the primary is still broken" in out
    code, out = cli("runbook", "run", "pause-retraining", "--incident", "INC-1", "--no-wait")
    assert code == 0 and "RUN-3 pause-retraining on INC-1: awaiting_approval" in out, out
    code, out = cli("runbook", "cancel", "RUN-3")
    assert code == 1 and "RUN-3 pause-retraining on INC-1: cancelled" in out
    assert "paused:retrain-fraud" not in fraud.values
    code, out = cli("runbook", "runs", "RUN-7")
    assert code == 2 and "run RUN-7 does not exist" in out
    code, out = cli("runbook", "run", "pause-retraining", "--incident", "INC-1", "--input", "schedule")
    assert code == 2 and "--input 'schedule' must look like name=value" in out
    code, out = cli("runbook", "show", "nope")
    assert code == 2 and "runbook 'nope' does not exist" in out
