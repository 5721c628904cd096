"""serving.ensure_version on layers pointed at a URI (KServe through the fake Kubernetes API,
an HTTP router over MockTransport), with MLflow's versions from canned answers. Its behaviour
with a real MLServer following a real MLflow alias is in tests/system."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import ConflictError, InputError
from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.registry.build import build_instance as build_registry
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from integrations.serving.actions import register_actions
from integrations.serving.build import build_instance
from integrations.serving.config import HttpServingConfig, MLServerConfig
from integrations.serving.protocol import ServingLayer
from tests.fakes.kube_api import FakeKubeApi
from tests.integrations.registry.mlflow_mock import FakeMlflow, version_json
from tests.integrations.serving.conftest import NAMESPACE, TOKEN, kserve_config, write_kubeconfig

API = "/api/2.0/mlflow"
MODEL = "fraud-detector"
CTX = ActionContext(incident_ref="INC-3", run_ref="RUN-9", step_id="serve", actor="alice")


@pytest.fixture
async def registry() -> AsyncIterator[ModelRegistry]:
    fake = FakeMlflow()
    versions = [version_json(v, name=MODEL) for v in ("3", "2", "1")]
    fake.routes[("GET", f"{API}/model-versions/search")] = httpx.Response(
        200, json={"model_versions": versions}
    )
    model = {"name": MODEL, "aliases": [{"alias": "champion", "version": "2"}]}
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        200, json={"registered_model": model}
    )
    fake.routes[("GET", f"{API}/model-versions/get")] = httpx.Response(
        200, json={"model_version": version_json("2", name=MODEL)}
    )
    instance = build_registry(
        "mlflow", MlflowRegistryConfig(kind="mlflow", url="http://mlflow.test"), transport=fake.transport()
    )
    yield instance
    await instance.aclose()


@pytest.fixture
async def kserve_serving(kube_url: str, tmp_path: Path) -> AsyncIterator[ServingLayer]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url, {"token": TOKEN})
    served = [{"model": MODEL, "uri": "s3://models/{model}/{version}"}]
    layer = build_instance("prod-kserve", kserve_config(kubeconfig, serves=served))
    yield layer
    await layer.aclose()


def actions(layers: dict[str, ServingLayer], registry: ModelRegistry) -> ActionRegistry:
    found = ActionRegistry()
    register_actions(found, layers, {"mlflow": registry})
    return found


async def ensure(registry_: ActionRegistry, **params: Any) -> tuple[Any, Any]:
    action = registry_.get("serving.ensure_version")
    body = {"model": MODEL, "timeout_s": 5, "interval_s": 0.05, **params}
    parsed = action.params_model.model_validate(body)
    return action, parsed


async def test_kserve_is_pointed_at_the_version_and_undone_to_the_one_before(
    kube_api: FakeKubeApi, kserve_serving: ServingLayer, registry: ModelRegistry
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://models/fraud-detector/3")
    action, params = await ensure(actions({"prod-kserve": kserve_serving}, registry), version="v2")
    assert action.undo_last and action.lock_targets(params) == [f"serving:prod-kserve/{MODEL}"]
    plan = await action.plan(params, CTX)
    assert plan.summary == f"{MODEL} served: prod-kserve/{MODEL}: v3 → v2, load its URI"
    assert plan.current == {"served": {f"prod-kserve/{MODEL}": "3"}}
    assert plan.details["layers"][f"prod-kserve/{MODEL}"]["wanted_uri"] == "s3://models/fraud-detector/2"

    result = await action.apply(params, CTX)
    assert kube_api.get(NAMESPACE, MODEL)["spec"]["predictor"]["model"]["storageUri"] == (
        "s3://models/fraud-detector/2"
    )
    assert result.before == {"served": {f"prod-kserve/{MODEL}": "3"}}
    assert result.after == {"served": {f"prod-kserve/{MODEL}": "2"}}
    layer = result.details["layers"][f"prod-kserve/{MODEL}"]
    assert layer["version"] == "2" and layer["ready"] is True
    assert "storageUri s3://models/fraud-detector/2" in layer["evidence"]

    again = await action.apply(params, CTX)  # idempotent
    assert again.summary == f"{MODEL} served: prod-kserve/{MODEL}: already v2"
    inverse = action.inverse(params, result.before)
    assert isinstance(inverse, Invocation) and inverse.params["version"] == "3"
    assert inverse.params["from_version"] == "2"


async def test_an_http_router_reports_and_sets_the_version(registry: ModelRegistry) -> None:
    served = {"version": "3"}
    calls: list[str] = []

    def router(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "PUT":
            served["version"] = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"model": {"version": served["version"]}})

    config = HttpServingConfig.model_validate(
        {
            "kind": "http",
            "url": "http://router.test",
            "get_route": {"url": "/routes/{{ model }}", "route_field": "route"},
            "set_route": {"method": "PUT", "url": "/routes/{{ model }}"},
            "get_version": {"url": "/models/{{ model }}", "version_field": "model.version"},
            "set_version": {"method": "PUT", "url": "/models/{{ model }}/versions/{{ version }}"},
            "serves": [{"model": MODEL}],
            "http": {"retries": 0},
        }
    )
    layer = build_instance("router", config, transport=httpx.MockTransport(router))
    action, params = await ensure(actions({"router": layer}, registry), version="1")
    result = await action.apply(params, CTX)
    assert served["version"] == "1" and f"PUT /models/{MODEL}/versions/1" in calls
    assert result.after == {"served": {f"router/{MODEL}": "1"}}
    await layer.aclose()


async def test_an_alias_follower_is_not_reloaded_while_the_alias_points_elsewhere(
    registry: ModelRegistry,
) -> None:
    serves = [{"model": MODEL, "alias": "champion"}]
    config = {"kind": "mlserver", "url": "http://mlserver.test", "serves": serves}
    index = [{"name": MODEL, "version": "", "state": "READY", "reason": ""}]
    layer = build_instance(
        "mlserver",
        MLServerConfig.model_validate(config),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=index)),
    )
    action, params = await ensure(actions({"mlserver": layer}, registry), version="1", from_version="3")
    with pytest.raises(ConflictError, match="points to v2, not v1"):
        await action.plan(params, CTX)
    # In a dry-run, an earlier step that moves the alias counts.
    planned = ActionContext(dry_run=True, planned={f"registry:mlflow/{MODEL}@champion": {"version": "1"}})
    plan = await action.plan(params, planned)
    assert plan.summary == f"{MODEL} served: mlserver/{MODEL}: v3 → v1, reload (follows alias champion)"
    await layer.aclose()


async def test_no_layer_configured_is_said_and_a_named_one_must_serve_the_model(
    kserve_serving: ServingLayer, registry: ModelRegistry
) -> None:
    found = actions({"prod-kserve": kserve_serving}, registry)
    action, params = await ensure(found, model="churn", version="1")
    plan = await action.plan(params, CTX)
    assert plan.summary.startswith("no serving layer is configured for churn")
    assert action.lock_targets(params) == []
    _, named = await ensure(found, model="churn", version="1", instance="prod-kserve")
    with pytest.raises(InputError, match="does not serve registered model 'churn'"):
        action.target(named)
