"""The whole rollback loop on real software: MLflow holds ``fraud-scorer@champion``, MLServer
serves it with its MLflow runtime. Moving the alias back (registry.set_alias) and reloading
(serving.reload_model) flips the served version; undoing both flips it again."""

from __future__ import annotations

import httpx
import pytest

from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.registry.actions import register_actions as register_registry_actions
from integrations.registry.build import build_instance as build_registry
from integrations.registry.config import MlflowRegistryConfig
from integrations.serving.actions import register_actions as register_serving_actions
from integrations.serving.build import build_instance as build_serving
from integrations.serving.config import MLServerConfig
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
