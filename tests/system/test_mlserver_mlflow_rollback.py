"""The whole rollback loop on real software: MLflow holds ``fraud-scorer@champion``, MLServer
serves it with its MLflow runtime. Moving the alias back (registry.set_alias) and reloading
(serving.reload_model) flips the served version; undoing both flips it again. Through the engine,
serving.ensure_version reaches MLServer and its undo reloads after the alias is restored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.auth.actor import SYSTEM
from bot.config import load_settings
from bot.incident import flows as incident_flows
from bot.incident.schemas import IncidentCreate
from bot.runbook import flows
from bot.runtime import Runtime
from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.registry.actions import register_actions as register_registry_actions
from integrations.registry.build import build_instance as build_registry
from integrations.registry.config import MlflowRegistryConfig
from integrations.serving.actions import register_actions as register_serving_actions
from integrations.serving.build import build_instance as build_serving
from integrations.serving.config import MLServerConfig
from tests.access import OPEN_PERMISSIONS
from tests.runbook.conftest import ALICE
from tests.system.fixtures.mlflow import MlflowServer
from tests.system.fixtures.mlserver import MLFLOW_MODEL, MLServer

pytestmark = pytest.mark.system

CTX = ActionContext(incident_ref="INC-21", actor="alice")
HTTP = {"retries": 0, "backoff_initial_s": 1}


async def served_answer(url: str) -> float:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(f"/v2/models/{MLFLOW_MODEL}/infer", json=body)
    response.raise_for_status()
    return float(response.json()["outputs"][0]["data"][0])


async def champion(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get(
            "/api/2.0/mlflow/registered-models/alias", params={"name": MLFLOW_MODEL, "alias": "champion"}
        )
    response.raise_for_status()
    return str(response.json()["model_version"]["version"])


async def apply(registry: ActionRegistry, invocation: Invocation) -> dict[str, object]:
    action = registry.get(invocation.action)
    result = await action.apply(action.params_model.model_validate(invocation.params), CTX)
    return result.before


async def test_alias_rollback_and_reload_flip_the_served_version(
    mlflow_server: MlflowServer, mlserver_mlflow: MLServer
) -> None:
    v1, v2 = mlserver_mlflow.mlflow_versions
    registry = build_registry(
        "mlflow",
        MlflowRegistryConfig.model_validate({"kind": "mlflow", "url": mlflow_server.url, "http": HTTP}),
    )
    serving = build_serving(
        "mlserver",
        MLServerConfig.model_validate({"kind": "mlserver", "url": mlserver_mlflow.url, "http": HTTP}),
    )
    actions = ActionRegistry()
    register_registry_actions(actions, {"mlflow": registry})
    register_serving_actions(actions, {"mlserver": serving})
    assert await served_answer(mlserver_mlflow.url) == 2.0  # champion → v2

    # The runbook: move the alias back to v1, then reload the model in MLServer.
    steps = [
        Invocation("registry.set_alias", {"model": MLFLOW_MODEL, "alias": "champion", "version": v1}),
        Invocation("serving.reload_model", {"model": MLFLOW_MODEL}),
    ]
    befores = [await apply(actions, step) for step in steps]
    assert await served_answer(mlserver_mlflow.url) == 1.0

    # Undo in reverse order: the alias goes back to v2; a reload picks it up.
    alias = actions.get("registry.set_alias")
    undo = alias.inverse(alias.params_model.model_validate(steps[0].params), befores[0])
    reload = actions.get("serving.reload_model")
    reload_undo = reload.inverse(reload.params_model.model_validate(steps[1].params), befores[1])
    assert undo is not None
    assert reload_undo is None  # a reload is not a state change
    await apply(actions, undo)
    assert await champion(mlflow_server.url) == v2
    assert await served_answer(mlserver_mlflow.url) == 1.0  # still the loaded copy
    await apply(actions, steps[1])
    assert await served_answer(mlserver_mlflow.url) == 2.0

    await registry.aclose()
    await serving.aclose()


ROLLBACK = """
name: roll-back-served
title: Roll back, served
owner: tests
run_by: ["*"]
inputs:
  model: {from: [incident.labels.model]}
steps:
  - id: rollback
    action: registry.rollback_alias
    with: {model: "{{ inputs.model }}", alias: champion, validated_tag: good}
  - id: serve
    action: serving.ensure_version
    with:
      model: "{{ inputs.model }}"
      version: "{{ steps.rollback.after.version }}"
      from_version: "{{ steps.rollback.before.version }}"
      timeout_s: 60
      interval_s: 0.5
    timeout: 90s
"""


async def test_a_rollback_run_reaches_serving_and_its_undo_reloads_after_the_alias_is_back(
    db_url: str, tmp_path: Path, mlflow_server: MlflowServer, mlserver_mlflow: MLServer
) -> None:
    """Through the engine: the alias moves v2 → v1, then MLServer reloads and serves v1 (asked
    from MLServer); undone, the alias goes back to v2 first and only then MLServer reloads."""
    v1, v2 = mlserver_mlflow.mlflow_versions
    async with httpx.AsyncClient(base_url=mlflow_server.url) as client:
        tag = {"name": MLFLOW_MODEL, "version": v1, "key": "good", "value": "true"}
        (await client.post("/api/2.0/mlflow/model-versions/set-tag", json=tag)).raise_for_status()
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "roll-back-served.yaml").write_text(ROLLBACK)
    settings = load_settings(
        database_url=db_url,
        runbooks_dir=runbooks,
        runbooks={"default_retries": {"max": 0}, "lease": 30},
        permissions=OPEN_PERMISSIONS,  # serving is under test here, not who may run it
        integrations={
            "registries": {"mlflow": {"kind": "mlflow", "url": mlflow_server.url, "http": HTTP}},
            "serving": {
                "mlserver": {
                    "kind": "mlserver",
                    "url": mlserver_mlflow.url,
                    "http": HTTP,
                    "serves": [{"model": MLFLOW_MODEL, "alias": "champion"}],
                }
            },
        },
    )
    runtime = Runtime.build(settings)
    try:
        incident = await incident_flows.declare_incident(
            runtime.db,
            IncidentCreate(title="scorer errors", labels={"model": MLFLOW_MODEL}),
            SYSTEM,
            authz=runtime.authz,
        )
        assert await served_answer(mlserver_mlflow.url) == 2.0
        plan = await flows.plan_run(runtime, "roll-back-served", incident.ref, {}, ALICE)
        assert [s.summary for s in plan.steps] == [
            f"alias champion of {MLFLOW_MODEL}: v{v2} → v{v1}",
            f"{MLFLOW_MODEL} served: mlserver/{MLFLOW_MODEL}: v{v2} → v{v1}, reload (follows alias champion)",
        ]
        run = await flows.start_run(runtime, "roll-back-served", incident.ref, {}, ALICE)
        done = await flows.execute(runtime, run.ref)
        assert done.status == "succeeded", done.error
        assert await champion(mlflow_server.url) == v1
        assert await served_answer(mlserver_mlflow.url) == 1.0
        serve = done.steps[1]
        assert serve.before == {"served": {f"mlserver/{MLFLOW_MODEL}": v2}}
        assert serve.after == {"served": {f"mlserver/{MLFLOW_MODEL}": v1}}

        await flows.undo(runtime, run.ref, ALICE)
        undone = await flows.execute(runtime, run.ref)
        assert undone.status == "undone", undone.error
        assert await champion(mlflow_server.url) == v2
        assert await served_answer(mlserver_mlflow.url) == 2.0
        finished = {s.step: s.finished_at for s in undone.undo_steps}
        assert finished["rollback"] is not None and finished["serve"] is not None
        assert finished["rollback"] < finished["serve"]  # the alias first, then the reload
    finally:
        await runtime.integrations.aclose()
        await runtime.db.dispose()
