"""The shipped runbooks against real servers, wired the production way: an ``integrations:``
config section → ``Runtime.build`` → the runbook engine. rollback-model on a real MLflow with
its check on a real Prometheus; pause/resume-retraining on a real Airflow 3."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.config import DEFAULT_RUNBOOKS_DIR, load_settings
from bot.incident import flows as incident_flows
from bot.incident.domain import Role, Severity, Status
from bot.runbook import flows
from bot.runbook.builtin import register_builtin_actions
from bot.runbook.schemas import RunOut
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from tests.runbook.conftest import ALICE, BOB, FAST, declare
from tests.system.fixtures.airflow import PASSWORDS, AirflowServer, airflow_server  # noqa: F401
from tests.system.fixtures.mlflow import (  # noqa: F401
    MlflowServer,
    create_model,
    create_version,
    mlflow_server,
    set_alias,
)
from tests.system.fixtures.prometheus import (  # noqa: F401
    GAUGE_NAME,
    PROM_PASSWORD,
    PROM_USER,
    PrometheusServer,
    prometheus_server,
)

pytestmark = pytest.mark.system

ERROR_RATE = f'{GAUGE_NAME}{{service="api"}}'


@pytest.fixture
async def wired(
    db_url: str,
    mlflow_server: MlflowServer,  # noqa: F811
    prometheus_server: PrometheusServer,  # noqa: F811
    airflow_server: AirflowServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Runtime]:
    monkeypatch.setenv("PROM_TEST_SECRET", PROM_PASSWORD)
    monkeypatch.setenv("AIRFLOW_TEST_SECRET", PASSWORDS["admin"])
    http = {"retries": 0, "connect_timeout_s": 2, "read_timeout_s": 20}
    settings = load_settings(
        database_url=db_url,
        runbooks_dir=DEFAULT_RUNBOOKS_DIR,
        runbooks=FAST,
        integrations={
            "registries": {"prod-mlflow": {"kind": "mlflow", "url": mlflow_server.url}},
            "metrics": {
                "prom": {
                    "kind": "prometheus",
                    "url": prometheus_server.url,
                    "auth": {"type": "basic", "username": PROM_USER, "password": {"env": "PROM_TEST_SECRET"}},
                    "http": http,
                }
            },
            "orchestrators": {
                "airflow": {
                    "kind": "airflow",
                    "url": airflow_server.url,
                    "auth": {
                        "type": "basic",
                        "username": "admin",
                        "password": {"env": "AIRFLOW_TEST_SECRET"},
                    },
                    "http": http,
                }
            },
        },
    )
    runtime = Runtime.build(settings)
    register_builtin_actions(runtime.actions)
    yield runtime
    await runtime.integrations.aclose()
    await runtime.db.dispose()


async def staffed(runtime: Runtime, **incident: Any) -> str:
    """An incident whose commander is bob (he approves) and whose operations lead is alice
    (she declared it and runs the runbooks): the shipped defaults need a second person."""
    ref = await declare(runtime, commander=BOB, **incident)
    await incident_flows.assign_role(runtime.db, ref, Role.OPERATIONS, ALICE.id, ALICE, authz=runtime.authz)
    return ref


async def approved(runtime: Runtime, run: RunOut) -> RunOut:
    """Bob's approval of what alice asked for (a run or an undo), then its execution here."""
    assert run.status == RunStatus.AWAITING_APPROVAL, run.status
    return await flows.execute(runtime, (await flows.approve(runtime, run.ref, BOB)).ref)


async def scraped(server: PrometheusServer, value: float) -> None:
    """Set the exporter's error ratio and wait until Prometheus has it (set-up only)."""
    server.set(value)
    async with httpx.AsyncClient(auth=(PROM_USER, PROM_PASSWORD)) as client:
        for _ in range(100):
            body = (await client.get(f"{server.url}/api/v1/query", params={"query": ERROR_RATE})).json()
            if body["data"]["result"] and float(body["data"]["result"][0]["value"][1]) == value:
                return
            await asyncio.sleep(0.2)
    raise AssertionError("Prometheus did not scrape the new value")


async def champion(mlflow: MlflowServer, model: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"{mlflow.url}/api/2.0/mlflow/registered-models/alias",
            params={"name": model, "alias": "champion"},
        )
    return str(r.json()["model_version"]["version"])


async def test_rollback_model_with_mlflow_and_prometheus(
    wired: Runtime,
    mlflow_server: MlflowServer,  # noqa: F811
    prometheus_server: PrometheusServer,  # noqa: F811
) -> None:
    model = f"fraud-{uuid.uuid4().hex[:8]}"
    create_model(mlflow_server.url, model)
    for version in ("1", "2"):
        create_version(mlflow_server.url, model, f"s3://dummy/{version}", {"validated": "true"})
    create_version(mlflow_server.url, model, "s3://dummy/3")
    set_alias(mlflow_server.url, model, "champion", "3")
    await scraped(prometheus_server, 0.01)
    incident = await staffed(wired, severity=Severity.SEV1, labels={"model": model}, models=[model])
    inputs: dict[str, Any] = {"error_rate_query": ERROR_RATE, "verify_for_s": 0}

    plan = await flows.plan_run(wired, "rollback-model", incident, inputs, ALICE)
    assert plan.steps[0].summary == f"alias champion of {model}: v3 → v2"
    assert plan.steps[0].target == f"registry:prod-mlflow/{model}@champion"
    # No serving layer is configured for the model here: the rollback says it reloads nothing.
    assert plan.steps[1].summary is not None
    assert plan.steps[1].summary.startswith(f"no serving layer is configured for {model}")
    assert plan.steps[2].error is None and plan.steps[2].target == f"metrics:prom/{ERROR_RATE}"

    run = await flows.start_run(wired, "rollback-model", incident, inputs, ALICE)
    assert await champion(mlflow_server, model) == "3"  # nothing moves before bob approves
    done = await approved(wired, run)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert (done.steps[0].before, done.steps[0].after) == ({"version": "3"}, {"version": "2"})
    assert await champion(mlflow_server, model) == "2"
    # The verification mitigates the incident.
    assert (await incident_flows.get_incident(wired.db, incident)).status == Status.MITIGATED

    undone = await approved(wired, await flows.undo(wired, run.ref, ALICE))
    assert undone.status == RunStatus.UNDONE, undone.error
    changed = [(u.step, u.action) for u in undone.undo_steps if u.status == "succeeded"]
    assert changed == [("rollback", "registry.set_alias")]
    assert await champion(mlflow_server, model) == "3"

    # The undo recorded the move v2 → v3 in the alias history: rolling back again goes to v2.
    again = await approved(wired, await flows.start_run(wired, "rollback-model", incident, inputs, ALICE))
    assert again.status == RunStatus.SUCCEEDED and await champion(mlflow_server, model) == "2"


async def test_pause_and_resume_retraining_with_airflow(
    wired: Runtime,
    airflow_server: AirflowServer,  # noqa: F811
) -> None:
    airflow_server.set_paused("retrain-fraud", False)
    incident = await staffed(wired, severity=Severity.SEV2, labels={"model": "fraud"}, models=["fraud"])
    plan = await flows.plan_run(wired, "pause-retraining", incident, {}, ALICE)
    assert [s.summary for s in plan.steps] == ["schedule retrain-fraud: active → paused"]

    paused = await approved(wired, await flows.start_run(wired, "pause-retraining", incident, {}, ALICE))
    assert paused.status == RunStatus.SUCCEEDED, paused.error
    assert airflow_server.is_paused("retrain-fraud")

    resume = await flows.start_run(wired, "resume-retraining", incident, {}, ALICE)
    assert resume.status == RunStatus.AWAITING_APPROVAL  # resume needs one approver
    await flows.cancel(wired, resume.ref, ALICE)
    undone = await approved(wired, await flows.undo(wired, paused.ref, ALICE))
    assert undone.status == RunStatus.UNDONE, undone.error
    assert not airflow_server.is_paused("retrain-fraud")
