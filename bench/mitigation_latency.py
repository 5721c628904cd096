"""Mitigation latency: from the alert to the verified rollback, through the bot and by hand.

    pip install -e '.[demo]'      # MLflow and MLServer beside the bot
    python bench/mitigation_latency.py [--rounds 5] [--postgres postgresql+psycopg://...]

In one run, on real MLflow 3 and MLServer 1.7 (the demo's example model: v1 good, v2 bad,
``champion`` on v2, MLServer serving ``models:/fraud-detector@champion``), each round:

- **bot**: an Alertmanager webhook for the model is posted to ``incident-bot serve``; its routing
  rule opens a SEV1 incident and auto-runs a rollback (no approval at SEV1): the alias back to
  v1 (``registry.rollback_alias``), MLServer reloads it and is asked what it serves
  (``serving.ensure_version``), and the verification mitigates the incident
  (``serving.health``, ``mitigates: true``). The milestones are read from the bot's API
  (timeline and run): alert received, incident declared, run started, alias moved, served
  version changed, verified. MLServer is then asked for a prediction that tells v1 from v2.
- **direct**: the same MLflow and MLServer calls made by hand with httpx: read the versions and
  the alias, tag and move the alias, reload the model on MLServer, check it is ready and
  serving v1.

Between rounds, ``champion`` goes back to v2 and MLServer reloads it. The bot's overhead is its
alert-to-verified time minus the direct time (target: under 1 s); it prints both, per
milestone, as medians over the rounds, with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bot.demo import configs, stack  # noqa: E402
from bot.demo.processes import Processes  # noqa: E402

API = "/api/2.0/mlflow"
PROBE = [0.05, 0.3, 0.9]
GOOD = [0.0, 0.0, 1.0]
RUNBOOK = """
name: bench-rollback
title: Roll back, serve, verify (benchmark)
owner: bench
inputs:
  model: {from: [incident.labels.model]}
approval: {required: none}
steps:
  - id: rollback
    action: registry.rollback_alias
    with: {model: "{{ inputs.model }}", alias: champion}
  - id: serve
    action: serving.ensure_version
    with:
      model: "{{ inputs.model }}"
      version: "{{ steps.rollback.after.version }}"
      from_version: "{{ steps.rollback.before.version }}"
      interval_s: 0.1
  - id: verify
    action: serving.health
    mitigates: true
    with: {model: "{{ inputs.model }}"}
"""
MILESTONES = ("incident", "run started", "alias moved", "served version", "verified")


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


async def served(client: httpx.AsyncClient, mlserver: str) -> list[float]:
    body = {"inputs": [{"name": "amount", "shape": [3], "datatype": "FP64", "data": PROBE}]}
    response = await client.post(f"{mlserver}/v2/models/{configs.MODEL}/infer", json=body)
    return [float(v) for v in response.json()["outputs"][0]["data"]]


async def promote_bad(client: httpx.AsyncClient, mlflow: str, mlserver: str, bad: str) -> None:
    body = {"name": configs.MODEL, "alias": configs.ALIAS, "version": bad}
    (await client.post(f"{mlflow}{API}/registered-models/alias", json=body)).raise_for_status()
    (await client.post(f"{mlserver}/v2/repository/models/{configs.MODEL}/load")).raise_for_status()


async def direct(client: httpx.AsyncClient, mlflow: str, mlserver: str, good: str) -> float:
    """The same work by hand: read, tag and move the alias, reload, check ready and served."""
    started = time.perf_counter()
    model = configs.MODEL
    (await client.get(f"{mlflow}{API}/registered-models/get", params={"name": model})).raise_for_status()
    versions = await client.get(f"{mlflow}{API}/model-versions/search", params={"filter": f"name='{model}'"})
    versions.raise_for_status()
    tag = {"name": model, "version": good, "key": "incident_bot.alias.champion.moved", "value": "{}"}
    (await client.post(f"{mlflow}{API}/model-versions/set-tag", json=tag)).raise_for_status()
    alias = {"name": model, "alias": configs.ALIAS, "version": good}
    (await client.post(f"{mlflow}{API}/registered-models/alias", json=alias)).raise_for_status()
    (await client.post(f"{mlserver}/v2/repository/models/{model}/load")).raise_for_status()
    (await client.get(f"{mlserver}/v2/models/{model}/ready")).raise_for_status()
    elapsed = time.perf_counter() - started
    assert await served(client, mlserver) == GOOD, "the direct reload did not serve v1"
    return elapsed


async def through_the_bot(
    client: httpx.AsyncClient, bot: str, token: str, password: str, mlserver: str, n: int
) -> dict[str, float]:
    """One page; the milestones in seconds after the webhook was posted."""
    incident = f"INC-{n}"
    labels = {"alertname": configs.ALERTNAME, "model": configs.MODEL, "severity": "critical", "round": str(n)}
    payload = configs.alertmanager_webhook("firing", datetime.now(UTC).isoformat(), None, 0.4)
    payload["groupKey"] = f'{{}}:{{round="{n}"}}'
    payload["alerts"][0]["labels"] = labels
    payload["alerts"][0]["fingerprint"] = f"{n:016x}"
    headers = {"Authorization": f"Bearer {token}"}
    posted = time.time()
    response = await client.post(
        f"{bot}/webhooks/alertmanager", json=payload, auth=(configs.WEBHOOK_USER, password)
    )
    assert response.status_code == 202, response.text
    received = time.time()
    deadline = time.monotonic() + 120
    while True:
        runs = (await client.get(f"{bot}/api/v1/runs", params={"incident": incident}, headers=headers)).json()
        done = [r for r in runs.get("items", []) if r["status"] in ("succeeded", "failed")]
        if done:
            break
        assert time.monotonic() < deadline, f"no finished run on {incident}"
        await asyncio.sleep(0.05)
    run = done[0]
    assert run["status"] == "succeeded", run["error"]
    timeline = (await client.get(f"{bot}/api/v1/incidents/{incident}/timeline", headers=headers)).json()
    declared = next(e for e in timeline if e["kind"] == "declared")
    mitigated = next(
        e for e in timeline if e["kind"] == "status_changed" and e["data"].get("to") == "mitigated"
    )
    rollback, serve, _verify = run["steps"]
    assert await served(client, mlserver) == GOOD, "the bot's rollback did not serve v1"
    # Resolved, so that the next round's page opens an incident of its own.
    resolved = await client.patch(
        f"{bot}/api/v1/incidents/{incident}", json={"status": "resolved"}, headers=headers
    )
    resolved.raise_for_status()
    return {
        "alert received": received - posted,
        "incident": at(declared["at"]) - posted,
        "run started": at(run["started_at"]) - posted,
        "alias moved": at(rollback["finished_at"]) - posted,
        "served version": at(serve["finished_at"]) - posted,
        "verified": at(mitigated["at"]) - posted,
    }


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="mitigation-latency-"))
    processes = Processes(workdir)
    try:
        tools = stack.find_tools(use_monitoring=False)
        mlflow = await stack.start_mlflow(processes, workdir, tools)
        versions = await stack.register_models(workdir, mlflow)
        mlserver = await stack.start_mlserver(processes, workdir, tools, mlflow)
        runbooks = workdir / "runbooks"
        runbooks.mkdir()
        (runbooks / "bench-rollback.yaml").write_text(RUNBOOK)
        database = _schema(args.postgres) if args.postgres else f"sqlite:///{workdir / 'bot.db'}"
        people = await stack.bot_database(workdir) if not args.postgres else {}
        port = stack.free_port()
        config = configs.bot_config(
            database_url=database,
            port=port,
            mlflow_url=mlflow,
            mlserver_url=mlserver,
            metrics_url="http://127.0.0.1:9",
            runbooks_dir=runbooks,
        )
        route = config["alerts"]["routes"][0]
        route.update(severity="SEV1", runbooks=["bench-rollback"], auto_run=[{"runbook": "bench-rollback"}])
        # The bot's own share is measured without a person in the loop: the operator opts this
        # runbook out of the approval floor (docs/permissions.md), as a team would for a SEV1 page.
        config["permissions"] = {"runs_without_approval": ["bench-rollback"]}
        (workdir / "bot.yaml").write_text(yaml.safe_dump(config))
        password = secrets.token_urlsafe(16)
        started = processes.start(
            "incident-bot",
            [sys.executable, "-m", "bot", "--config", str(workdir / "bot.yaml"), "serve"],
            env={configs.WEBHOOK_PASSWORD_ENV: password},
        )
        bot = f"http://127.0.0.1:{port}"
        await processes.ready(started, f"{bot}/readyz", timeout_s=60)
        if args.postgres:
            people = await _postgres_token(database)
        token = people[configs.REQUESTER]
        bot_rounds: list[dict[str, float]] = []
        direct_rounds: list[float] = []
        async with httpx.AsyncClient(timeout=60) as client:
            for n in range(1, args.rounds + 1):
                await promote_bad(client, mlflow, mlserver, versions["bad"])
                bot_rounds.append(await through_the_bot(client, bot, token, password, mlserver, n))
                await promote_bad(client, mlflow, mlserver, versions["bad"])
                direct_rounds.append(await direct(client, mlflow, mlserver, versions["good"]))
        report(args, bot_rounds, direct_rounds, database)
    finally:
        processes.stop_all()
        if args.postgres:
            _drop_schema(args.postgres)


_SCHEMA = f"bench_{os.getpid()}"


def _schema(base: str) -> str:
    """A schema of its own on the PostgreSQL server (INC-1 is this run's first incident)."""
    from sqlalchemy import create_engine, text

    from bot.db import sync_url

    engine = create_engine(sync_url(base))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{_SCHEMA}"'))
    engine.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{_SCHEMA}"


def _drop_schema(base: str) -> None:
    from sqlalchemy import create_engine, text

    from bot.db import sync_url

    engine = create_engine(sync_url(base))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{_SCHEMA}" CASCADE'))
    engine.dispose()


async def _postgres_token(url: str) -> dict[str, str]:
    import bot.models_index  # noqa: F401 (every table, for the ORM's foreign keys)
    from bot.auth.actor import SYSTEM
    from bot.auth.service import Scope, create_token
    from bot.db import Database

    db = Database(url)
    try:
        async with db.transaction() as session:
            # alice's token (the config's people): a responder of the page, who may resolve it.
            _row, secret = await create_token(session, configs.REQUESTER, [Scope.WRITE], SYSTEM)
    finally:
        await db.dispose()
    return {configs.REQUESTER: secret}


def report(
    args: argparse.Namespace, bot_rounds: list[dict[str, float]], direct_rounds: list[float], database: str
) -> None:
    median = {k: statistics.median(r[k] for r in bot_rounds) for k in bot_rounds[0]}
    direct_median = statistics.median(direct_rounds)
    overheads = [r["verified"] - d for r, d in zip(bot_rounds, direct_rounds, strict=True)]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"database: {database.split('@')[-1].split('?')[0]}, rounds: {args.rounds}")
    print("bot, seconds after the webhook was posted (median):")
    for name, value in median.items():
        print(f"  {name:<16} {value:7.3f}")
    print(f"direct MLflow + MLServer calls (median): {direct_median:.3f} s")
    print(
        "bot overhead (alert to verified, minus the direct calls): "
        f"median {statistics.median(overheads):.3f} s, max {max(overheads):.3f} s (target < 1 s)"
    )
    print(json.dumps({"bot": median, "direct": direct_median, "overheads": overheads}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", help="the bot's database (default: SQLite in a temp folder)")
    asyncio.run(main(parser.parse_args()))
