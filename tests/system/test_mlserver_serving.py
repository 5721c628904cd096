"""Serving actions against a real MLServer (V2 protocol, model-repository extension)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.errors import InputError, RejectedIntegrationError, RetryableIntegrationError
from integrations.base import ActionContext, ActionRegistry
from integrations.serving.actions import register_actions
from integrations.serving.build import build_instance
from integrations.serving.config import MLServerConfig
from integrations.serving.mlserver import MLServerServing
from tests.system.fixtures.mlserver import MLServer

pytestmark = pytest.mark.system

CTX = ActionContext(incident_ref="INC-12")
HTTP = {"retries": 0, "backoff_initial_s": 1}


def config(url: str) -> MLServerConfig:
    return MLServerConfig.model_validate(
        {
            "kind": "mlserver",
            "url": url,
            "fallbacks": {
                "fraud-detector": {"model": "fraud-baseline"},
                "churn": {"model": "churn-baseline"},
            },
            "http": HTTP,
        }
    )


async def repository_call(url: str, model: str, verb: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(f"/v2/repository/models/{model}/{verb}")
        assert response.status_code in (200, 404)


async def states(url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/v2/repository/index", json={})
    return {entry["name"]: entry["state"] for entry in response.json()}


async def infer(url: str, model: str) -> float | int:
    """The model's answer, or the HTTP status when it does not answer."""
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}]}
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(f"/v2/models/{model}/infer", json=body)
    if response.status_code != 200:
        return response.status_code
    return float(response.json()["outputs"][0]["data"][0])


@pytest.fixture
async def layer(mlserver: MLServer) -> AsyncIterator[MLServerServing]:
    # Every test starts from: primary loaded, fallback and the rest unloaded.
    await repository_call(mlserver.url, "fraud-detector", "load")
    for model in ("fraud-baseline", "churn", "broken"):
        await repository_call(mlserver.url, model, "unload")
    instance = build_instance("mlserver", config(mlserver.url))
    assert isinstance(instance, MLServerServing)
    yield instance
    await instance.aclose()


def registry_for(layer: MLServerServing) -> ActionRegistry:
    registry = ActionRegistry()
    register_actions(registry, {layer.name: layer})
    return registry


async def test_check_reports_the_server(layer: MLServerServing) -> None:
    result = await layer.check()
    assert result.ok
    assert result.version == "mlserver 1.7.1"


async def test_fallback_loads_the_baseline_then_unloads_the_model(
    mlserver: MLServer, layer: MLServerServing
) -> None:
    registry = registry_for(layer)
    enable = registry.get("serving.enable_fallback")
    params = enable.params_model.model_validate({"model": "fraud-detector"})

    plan = await enable.plan(params, CTX)
    assert plan.summary == (
        "fraud-detector on mlserver: primary → fallback (load fraud-baseline, then unload fraud-detector)"
    )
    assert (await states(mlserver.url))["fraud-baseline"] == "UNAVAILABLE"

    result = await enable.apply(params, CTX)
    assert result.before["mode"] == "primary"
    assert result.after["mode"] == "fallback"
    now = await states(mlserver.url)
    assert (now["fraud-detector"], now["fraud-baseline"]) == ("UNAVAILABLE", "READY")
    assert await infer(mlserver.url, "fraud-baseline") == 0.0
    assert await infer(mlserver.url, "fraud-detector") == 404

    again = await enable.apply(params, CTX)
    assert not again.changed
    assert again.summary == "fraud-detector on mlserver already serves its fallback model; nothing to do"

    undo = enable.inverse(params, result.before)
    assert undo is not None
    disable = registry.get(undo.action)
    restored = await disable.apply(disable.params_model.model_validate(undo.params), CTX)
    assert restored.after["mode"] == "primary"
    now = await states(mlserver.url)
    assert (now["fraud-detector"], now["fraud-baseline"]) == ("READY", "UNAVAILABLE")
    assert await infer(mlserver.url, "fraud-detector") == 2.0
    assert not (await disable.apply(disable.params_model.model_validate(undo.params), CTX)).changed


async def test_health_follows_what_is_served(layer: MLServerServing) -> None:
    health = registry_for(layer).get("serving.health")
    ok = await health.apply(health.params_model.model_validate({"model": "fraud-detector"}), CTX)
    assert ok.summary == "fraud-detector on mlserver: serving fraud-detector, ready"
    await layer.set_fallback("fraud-detector", enabled=True)
    on_fallback = await layer.health("fraud-detector")
    assert on_fallback.healthy
    assert on_fallback.summary == "fraud-detector on mlserver: serving fallback fraud-baseline, ready"
    with pytest.raises(
        RetryableIntegrationError,
        match=r"churn on mlserver: serving churn, "
        r"not ready \(HTTP 404\)",
    ):
        await health.apply(health.params_model.model_validate({"model": "churn"}), CTX)


async def test_reload_swaps_in_a_fresh_copy(mlserver: MLServer, layer: MLServerServing) -> None:
    reload = registry_for(layer).get("serving.reload_model")
    params = reload.params_model.model_validate({"model": "fraud-detector"})
    plan = await reload.plan(params, CTX)
    assert plan.changes
    result = await reload.apply(params, CTX)
    assert result.after["reloaded"] is True
    assert reload.inverse(params, result.before) is None
    assert await infer(mlserver.url, "fraud-detector") == 2.0
    # A model that is not loaded gets loaded.
    await reload.apply(reload.params_model.model_validate({"model": "churn"}), CTX)
    assert await infer(mlserver.url, "churn") == 5.0


async def test_a_model_that_fails_to_load_says_why(layer: MLServerServing) -> None:
    with pytest.raises(RetryableIntegrationError) as caught:
        await layer.reload("broken")
    assert caught.value.message.endswith("500 on loading model broken: RuntimeError: weights file is corrupt")
    assert caught.value.hint == "check MLServer's log for the model's load error"


async def test_missing_models_are_named(layer: MLServerServing) -> None:
    with pytest.raises(RejectedIntegrationError, match="model nope is not in the model repository") as caught:
        await layer.state("nope")
    assert "fraud-detector" in str(caught.value.hint)
    with pytest.raises(
        RejectedIntegrationError, match="fallback model churn-baseline is not in the model repository"
    ):
        await layer.plan_fallback("churn", enabled=True)
    with pytest.raises(InputError, match="no fallback is configured for model broken"):
        await layer.plan_fallback("broken", enabled=True)


async def test_rollback_belongs_to_the_registry(layer: MLServerServing) -> None:
    rollback = registry_for(layer).get("serving.rollback")
    with pytest.raises(InputError) as caught:
        await rollback.plan(rollback.params_model.model_validate({"model": "fraud-detector"}), CTX)
    assert caught.value.message == "serving instance mlserver (mlserver) does not support rollback"
    assert "registry alias" in str(caught.value.hint)


async def test_unreachable_server() -> None:
    layer = build_instance("down", config("http://127.0.0.1:9"))
    with pytest.raises(RetryableIntegrationError, match="cannot connect on listing the model repository"):
        await layer.state("fraud-detector")
    check = await layer.check()
    await layer.aclose()
    assert not check.reachable
