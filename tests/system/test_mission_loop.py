"""The mission loop on real components, asserted through the bot's API and the real systems' own.

MLflow holds fraud-detector v1 (good) and v2 (bad) with ``champion`` on v2; MLServer serves
``models:/fraud-detector@champion``; the example exporter sends it traffic with ground truth,
so its error rate is the served version's; Prometheus scrapes it and evaluates the shipped
rules; Alertmanager pages the bot with basic auth. The routing rule gives SEV2; alice (on call)
asks for rollback-model, which awaits approval; bob (the commander) approves over REST (two
API tokens, two people). The alias goes back to v1, MLServer serves v1, the error rate stays
under 5 % for the whole window, the incident is mitigated by that verification, the alert
resolves, alice resolves the incident, the postmortem renders; undo puts both back.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.db import Database
from bot.demo import configs
from integrations.registry.history import moved_tag
from tests.system.fixtures.alertmanager import alertmanager_binary
from tests.system.fixtures.mission import (
    BAD_ANSWERS,
    GOOD_ANSWERS,
    FraudModel,
    champion,
    promote_bad,
    served_answers,
)
from tests.system.fixtures.prometheus import prometheus_binary
from tests.system.servers import free_port, running

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "am-webhook-Pa55word"
TIMING = configs.Timing(verify_for_s=20.0)
#: The loop, from the first page to the undo, stays under this (seconds).
BUDGET_S = 180


@dataclass
class Loop:
    bot: str
    people: dict[str, dict[str, str]]
    alertmanager: str
    prometheus: str
    model: FraudModel

    def get(self, path: str, who: str = configs.REQUESTER, **params: Any) -> Any:
        response = httpx.get(f"{self.bot}{path}", params=params, headers=self.people[who], timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, who: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.bot}{path}", json=body, headers=self.people[who], timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def timeline(self, kind: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get("/api/v1/incidents/INC-1/timeline")
        return [e for e in events if e["kind"] == kind]


def eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except (httpx.HTTPError, AssertionError, KeyError):
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.5)


async def make_people(database_url: str) -> dict[str, dict[str, str]]:
    """alice and bob: one API token each (the people of the loop)."""
    db = Database(database_url)
    people = {}
    try:
        async with db.transaction() as session:
            for name in (configs.REQUESTER, configs.APPROVER):
                _row, secret = await create_token(session, name, [Scope.WRITE], SYSTEM)
                people[name] = {"Authorization": f"Bearer {secret}"}
    finally:
        await db.dispose()
    return people


@pytest.fixture
def loop(db_url: str, tmp_path: Path, fraud_model: FraudModel) -> Iterator[Loop]:
    prometheus, alertmanager = prometheus_binary(), alertmanager_binary()
    people = asyncio.run(make_people(db_url))
    bot_port, am_port, exporter_port, prom_port = free_port(), free_port(), free_port(), free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    config = configs.bot_config(
        database_url=db_url,
        port=bot_port,
        mlflow_url=fraud_model.mlflow_url,
        mlserver_url=fraud_model.mlserver_url,
        metrics_url=f"http://127.0.0.1:{prom_port}",
    )
    (tmp_path / "bot.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "am-password").write_text(PASSWORD)
    (tmp_path / "alertmanager.yml").write_text(
        configs.alertmanager_config(bot_url, tmp_path / "am-password", TIMING)
    )
    rules = configs.write_rules(tmp_path / "rules", TIMING)
    (tmp_path / "prometheus.yml").write_text(
        configs.prometheus_config(f"127.0.0.1:{exporter_port}", f"127.0.0.1:{am_port}", rules, TIMING)
    )
    bot_cmd = [sys.executable, "-m", "bot", "--config", str(tmp_path / "bot.yaml"), "serve"]
    env = {"PYTHONPATH": str(REPO), configs.WEBHOOK_PASSWORD_ENV: PASSWORD}
    am_cmd = [
        alertmanager,
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]
    exporter_cmd = [
        sys.executable,
        str(configs.examples_dir() / "fraud_model" / "exporter.py"),
        f"--serving={fraud_model.mlserver_url}",
        f"--port={exporter_port}",
        "--rate=5",
    ]
    prom_cmd = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    try:
        with (
            running(bot_cmd, ready_url=f"{bot_url}/readyz", env=env, log=tmp_path / "bot.log"),
            running(am_cmd, ready_url=f"http://127.0.0.1:{am_port}/-/ready", log=tmp_path / "am.log"),
            running(
                exporter_cmd, ready_url=f"http://127.0.0.1:{exporter_port}/metrics", log=tmp_path / "exp.log"
            ),
            running(prom_cmd, ready_url=f"http://127.0.0.1:{prom_port}/-/ready", log=tmp_path / "prom.log"),
        ):
            yield Loop(
                bot_url, people, f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}", fraud_model
            )
    finally:
        promote_bad(fraud_model)


def test_alert_to_verified_rollback_to_postmortem_and_back(loop: Loop) -> None:
    model = loop.model
    assert champion(model.mlflow_url) == model.bad
    assert served_answers(model.mlserver_url) == BAD_ANSWERS

    # Prometheus fires the shipped alert; Alertmanager pages the bot with basic auth.
    incident = eventually(lambda: loop.get("/api/v1/incidents/INC-1"), 60, "the page opens INC-1")
    started = time.monotonic()
    assert incident["severity"] == "SEV2"  # from the routing rule
    assert incident["status"] == "triggered" and incident["suggested_runbooks"] == ["rollback-model"]
    (alert,) = loop.get("/api/v1/alerts", incident="INC-1")["items"]
    assert (alert["source"], alert["labels"]["alertname"], alert["route"]) == (
        "alertmanager",
        configs.ALERTNAME,
        "fraud-page",
    )
    active = httpx.get(f"{loop.alertmanager}/api/v2/alerts", timeout=10).json()
    assert [a["labels"]["alertname"] for a in active] == [configs.ALERTNAME]

    # alice is on call (operations) and acknowledges, bob is the commander; alice asks, bob approves.
    acknowledged = loop.send("POST", "/api/v1/incidents/INC-1/acknowledge", "alice")
    assert acknowledged["status"] == "investigating"
    # Both are on call (the route's responders): each takes an empty role for themselves.
    loop.send("POST", "/api/v1/incidents/INC-1/roles", "bob", {"role": "commander", "assignee": "bob"})
    loop.send("POST", "/api/v1/incidents/INC-1/roles", "alice", {"role": "operations", "assignee": "alice"})
    requested = loop.send(
        "POST",
        "/api/v1/runs",
        "alice",
        {"runbook": "rollback-model", "incident": "INC-1", "inputs": configs.rollback_inputs(TIMING)},
    )
    assert requested["status"] == "awaiting_approval" and requested["approvals_required"] == 1
    rollback_plan, serve_plan, _verify_plan = requested["plan"]
    assert rollback_plan["summary"] == f"alias champion of {configs.MODEL}: v{model.bad} → v{model.good}"
    # Why v1: its validated tag (first run) or the alias history an earlier undo left.
    reason = rollback_plan["details"]["reason"]
    assert "validated=true" in reason or f"pointed to v{model.good} before" in reason
    assert rollback_plan["details"]["candidates"][0].startswith(f"v{model.good} (READY, validated")
    assert serve_plan["summary"].endswith(f"v{model.bad} → v{model.good}, reload (follows alias champion)")
    ref = requested["ref"]
    refused = httpx.post(f"{loop.bot}/api/v1/runs/{ref}/approve", headers=loop.people["alice"], timeout=30)
    assert refused.status_code == 403  # four eyes
    loop.send("POST", f"/api/v1/runs/{ref}/approve", "bob")

    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = loop.get(f"/api/v1/runs/{ref}")
        return run if run["status"] in ("succeeded", "failed") else None

    run = eventually(finished, 150, "the rollback run finishes")
    assert run["status"] == "succeeded", run["error"]
    rollback, serve, verify = run["steps"]
    assert (rollback["before"], rollback["after"]) == ({"version": model.bad}, {"version": model.good})
    assert serve["after"] == {"served": {f"mlserver/{configs.MODEL}": model.good}}
    # The verification watched the whole window, not one sample.
    assert verify["finished_at"] is not None
    waited = _seconds(verify["started_at"], verify["finished_at"])
    assert waited >= TIMING.verify_for_s

    # The real systems: MLflow's alias, what MLServer answers, MLflow's record of who.
    assert champion(model.mlflow_url) == model.good
    assert served_answers(model.mlserver_url) == GOOD_ANSWERS
    moved = _moved_tag(model)
    assert (moved["by"], moved["requested_by"], moved["approved_by"]) == ("alice", "alice", ["bob"])
    assert (moved["incident"], moved["run"]) == ("INC-1", ref)

    # Mitigated by the verification, with its reason.
    assert loop.get("/api/v1/incidents/INC-1")["status"] == "mitigated"
    (mitigated,) = [e for e in loop.timeline("status_changed") if e["data"]["to"] == "mitigated"]
    assert mitigated["data"]["mitigated_by"] == "runbook" and mitigated["data"]["step"] == "verify"
    assert mitigated["data"]["reason"].startswith("verified: model:prediction_errors:ratio_rate1m")

    # The alert resolves: in Alertmanager and on the incident.
    eventually(lambda: loop.timeline("alerts_resolved"), 90, "the alert resolves on INC-1")
    assert loop.get("/api/v1/alerts", incident="INC-1")["items"][0]["status"] == "resolved"
    firing = httpx.get(f"{loop.alertmanager}/api/v2/alerts", params={"active": "true"}, timeout=10).json()
    assert [a for a in firing if a["status"]["state"] == "active"] == []

    # alice resolves it; the postmortem tells the story.
    resolved = loop.send("PATCH", "/api/v1/incidents/INC-1", "alice", {"status": "resolved"})
    assert resolved["status"] == "resolved"
    postmortem = httpx.get(
        f"{loop.bot}/api/v1/incidents/INC-1/postmortem", headers=loop.people["alice"], timeout=30
    )
    assert postmortem.status_code == 200
    assert ref in postmortem.text and "rollback-model" in postmortem.text
    assert "verified: model:prediction_errors:ratio_rate1m" in postmortem.text

    # Undo: it follows the run's approval policy (bob approves); the alias goes back first, then
    # MLServer reloads it.
    asked = loop.send("POST", f"/api/v1/runs/{ref}/undo", "alice")
    assert asked["status"] == "awaiting_approval"
    assert champion(model.mlflow_url) == model.good  # nothing moves before bob approves
    loop.send("POST", f"/api/v1/runs/{ref}/approve", "bob")
    undone = eventually(
        lambda: (r := loop.get(f"/api/v1/runs/{ref}"))["status"] in ("undone", "failed") and r, 90, "undo"
    )
    assert undone["status"] == "undone", undone["error"]
    assert champion(model.mlflow_url) == model.bad
    assert served_answers(model.mlserver_url) == BAD_ANSWERS
    assert _moved_tag(model, model.bad)["by"] == "alice"
    assert time.monotonic() - started < BUDGET_S


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _moved_tag(model: FraudModel, version: str | None = None) -> dict[str, Any]:
    response = httpx.get(
        f"{model.mlflow_url}/api/2.0/mlflow/model-versions/get",
        params={"name": configs.MODEL, "version": version or model.good},
        timeout=30,
    )
    tags = {t["key"]: t["value"] for t in response.json()["model_version"]["tags"]}
    found: dict[str, Any] = json.loads(tags[moved_tag(configs.ALIAS)])
    return found
