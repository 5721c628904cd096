"""KServe serving actions against the fake Kubernetes API (production client over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.serving.actions import register_actions
from integrations.serving.build import build_instance
from integrations.serving.kserve import KServeServing
from integrations.serving.kserve_spec import FALLBACK_FROM, PREVIOUS_URI
from tests.fakes.kube_api import FakeKubeApi
from tests.integrations.serving.conftest import NAMESPACE, kserve_config, write_kubeconfig

CTX = ActionContext(incident_ref="INC-7", actor="alice")
MODEL = "fraud-detector"
V1, V2, BASELINE = "s3://models/fraud/v1", "s3://models/fraud/v2", "s3://models/fraud-baseline"


def actions(layer: KServeServing) -> ActionRegistry:
    registry = ActionRegistry()
    register_actions(registry, {layer.name: layer})
    return registry


async def run(registry: ActionRegistry, invocation: Invocation) -> Any:
    action = registry.get(invocation.action)
    return await action.apply(action.params_model.model_validate(invocation.params), CTX)


def isvc(api: FakeKubeApi) -> dict[str, Any]:
    return api.get(NAMESPACE, MODEL)


def predictor(api: FakeKubeApi) -> dict[str, Any]:
    return dict(isvc(api)["spec"]["predictor"])


def traffic(api: FakeKubeApi) -> list[tuple[str, int]]:
    return [
        (t["revisionName"], t["percent"]) for t in isvc(api)["status"]["components"]["predictor"]["traffic"]
    ]


def with_canary(api: FakeKubeApi, percent: int = 20) -> None:
    """v1 rolled out, then v2 deployed as a canary taking ``percent`` of the traffic."""
    api.add_inference_service(NAMESPACE, MODEL, V1)
    api.write(
        NAMESPACE,
        MODEL,
        {"spec": {"predictor": {"canaryTrafficPercent": percent, "model": {"storageUri": V2}}}},
    )


async def test_enable_fallback_plans_without_writing(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    action = actions(kserve).get("serving.enable_fallback")
    plan = await action.plan(action.params_model.model_validate({"model": MODEL}), CTX)
    assert plan.target == "serving:prod-kserve/fraud-detector"
    assert plan.summary == f"fraud-detector: primary {V2} → fallback {BASELINE}"
    assert plan.current["mode"] == "primary"
    assert plan.intended == {
        "model": MODEL,
        "mode": "fallback",
        "model_uri": BASELINE,
        "canary_percent": None,
    }
    assert plan.details["patch"]["spec"] == {"predictor": {"model": {"storageUri": BASELINE}}}
    assert kube_api.patches() == []


async def test_fallback_on_is_idempotent_and_undoes(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    registry = actions(kserve)
    enable = registry.get("serving.enable_fallback")
    params = enable.params_model.model_validate({"model": MODEL})

    result = await enable.apply(params, CTX)
    assert result.changed
    assert result.before["model_uri"] == V2
    assert result.after == {"model": MODEL, "mode": "fallback", "model_uri": BASELINE, "canary_percent": None}
    annotations = isvc(kube_api)["metadata"]["annotations"]
    assert annotations[PREVIOUS_URI] == V2
    assert annotations[FALLBACK_FROM] == f'{{"storageUri": "{V2}"}}'
    assert predictor(kube_api)["model"]["storageUri"] == BASELINE

    again = await enable.apply(params, CTX)
    assert not again.changed
    assert "nothing to do" in again.summary
    assert len(kube_api.patches()) == 1

    undo = enable.inverse(params, result.before)
    assert undo == Invocation("serving.disable_fallback", {"instance": "prod-kserve", "model": MODEL})
    restored = await run(registry, undo)
    assert restored.after["model_uri"] == V2
    assert restored.after["mode"] == "primary"
    annotations = isvc(kube_api)["metadata"]["annotations"]
    assert FALLBACK_FROM not in annotations
    assert annotations[PREVIOUS_URI] == BASELINE
    # Undoing the undo is enabling again; a no-op enable has nothing to undo.
    assert registry.get("serving.disable_fallback").inverse(params, restored.before) == Invocation(
        "serving.enable_fallback", {"instance": "prod-kserve", "model": MODEL}
    )
    assert enable.inverse(params, again.before) is None


async def test_fallback_takes_all_traffic_from_a_canary(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    with_canary(kube_api, 30)
    enable = actions(kserve).get("serving.enable_fallback")
    result = await enable.apply(enable.params_model.model_validate({"model": MODEL}), CTX)
    assert result.before["canary_percent"] == 30
    assert "canaryTrafficPercent" not in predictor(kube_api)
    assert traffic(kube_api) == [("fraud-detector-predictor-00003", 100)]


async def test_fallback_with_another_model_format_restores_the_format(
    kube_api: FakeKubeApi, kube_url: str, tmp_path: Path
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2, model_format="xgboost")
    kubeconfig = write_kubeconfig(tmp_path / "kc", kube_url, {"token": "token-of-the-bot"})
    config = kserve_config(kubeconfig, fallbacks={MODEL: {"model_uri": BASELINE, "model_format": "sklearn"}})
    layer = build_instance("prod-kserve", config)
    await layer.set_fallback(MODEL, enabled=True)
    assert predictor(kube_api)["model"] == {"modelFormat": {"name": "sklearn"}, "storageUri": BASELINE}
    await layer.set_fallback(MODEL, enabled=False)
    await layer.aclose()
    assert predictor(kube_api)["model"] == {"modelFormat": {"name": "xgboost"}, "storageUri": V2}


async def test_disable_without_a_recorded_primary_is_refused(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, BASELINE)  # switched by hand
    with pytest.raises(InputError) as caught:
        await kserve.plan_fallback(MODEL, enabled=False)
    assert FALLBACK_FROM in caught.value.message
    assert "to_uri" in str(caught.value.hint)


async def test_model_without_configured_fallback_fails_at_plan(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, "churn", V1)
    action = actions(kserve).get("serving.enable_fallback")
    with pytest.raises(InputError, match="no fallback is configured for model churn"):
        await action.plan(action.params_model.model_validate({"model": "churn"}), CTX)


async def test_rollback_cancels_the_canary_in_flight(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    with_canary(kube_api, 20)
    assert traffic(kube_api) == [
        ("fraud-detector-predictor-00002", 20),
        ("fraud-detector-predictor-00001", 80),
    ]
    registry = actions(kserve)
    rollback = registry.get("serving.rollback")
    params = rollback.params_model.model_validate({"model": MODEL})
    plan = await rollback.plan(params, CTX)
    assert plan.summary == (
        "canary of fraud-detector: 20% → 0% (all traffic to revision fraud-detector-predictor-00001)"
    )

    result = await rollback.apply(params, CTX)
    assert result.after["canary_percent"] == 0
    assert result.after["model_uri"] == V2  # Knative keeps the spec; traffic moved
    assert traffic(kube_api) == [
        ("fraud-detector-predictor-00002", 0),
        ("fraud-detector-predictor-00001", 100),
    ]
    assert not (await rollback.apply(params, CTX)).changed
    assert len(kube_api.patches()) == 1

    undo = rollback.inverse(params, result.before)
    assert undo is not None
    assert undo.params == {"instance": "prod-kserve", "model": MODEL, "to_uri": V2, "canary_percent": 20}
    await run(registry, undo)
    assert predictor(kube_api)["canaryTrafficPercent"] == 20
    assert traffic(kube_api)[0] == ("fraud-detector-predictor-00002", 20)


async def test_rollback_to_the_recorded_previous_uri(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2, annotations={PREVIOUS_URI: V1})
    registry = actions(kserve)
    rollback = registry.get("serving.rollback")
    params = rollback.params_model.model_validate({"model": MODEL})
    result = await rollback.apply(params, CTX)
    assert result.summary == f"storageUri of fraud-detector: {V2} → {V1}"
    assert predictor(kube_api)["model"]["storageUri"] == V1
    # Applying again does not flip back: the target stays V1.
    assert not (await rollback.apply(params, CTX)).changed
    undo = rollback.inverse(params, result.before)
    assert undo is not None
    await run(registry, undo)
    obj = isvc(kube_api)
    assert obj["spec"]["predictor"]["model"]["storageUri"] == V2
    assert obj["metadata"]["annotations"][PREVIOUS_URI] == V1


async def test_rollback_to_an_explicit_uri_records_the_previous_one(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    result = await kserve.rollback(MODEL, to_uri=V1)
    assert result.after.model_uri == V1
    assert isvc(kube_api)["metadata"]["annotations"][PREVIOUS_URI] == V2
    assert not (await kserve.rollback(MODEL, to_uri=V1)).changes


async def test_rollback_without_history_asks_for_to_uri(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    with pytest.raises(InputError, match="no previous model URI is recorded") as caught:
        await kserve.plan_rollback(MODEL)
    assert "to_uri" in str(caught.value.hint)


async def test_raw_deployment_mode_ignores_canary_and_uses_storage_uri(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(
        NAMESPACE, MODEL, V2, canary=20, deployment_mode="RawDeployment", annotations={PREVIOUS_URI: V1}
    )
    change = await kserve.plan_rollback(MODEL)
    assert change.after.model_uri == V1
    with pytest.raises(InputError, match="RawDeployment mode"):
        await kserve.plan_rollback(MODEL, canary_percent=0)


async def test_rollback_while_on_fallback_is_refused(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2, annotations={PREVIOUS_URI: V1})
    await kserve.set_fallback(MODEL, enabled=True)
    with pytest.raises(InputError, match="turn the fallback off first"):
        await kserve.plan_rollback(MODEL)


async def test_legacy_framework_predictor(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2, framework="sklearn", annotations={PREVIOUS_URI: V1})
    await kserve.rollback(MODEL)
    assert predictor(kube_api) == {"sklearn": {"storageUri": V1}}


async def test_conflict_from_a_status_update_is_retried(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    kube_api.before_next_patch(lambda api: api.set_ready(NAMESPACE, MODEL, True))
    result = await kserve.set_fallback(MODEL, enabled=True)
    assert result.after.model_uri == BASELINE
    assert len(kube_api.patches()) == 2  # 409, then the same change on the fresh version


async def test_conflict_on_the_model_itself_stops_with_a_clear_error(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    v3 = "s3://models/fraud/v3"
    kube_api.before_next_patch(
        lambda api: api.write(NAMESPACE, MODEL, {"spec": {"predictor": {"model": {"storageUri": v3}}}})
    )
    with pytest.raises(RejectedIntegrationError) as caught:
        await kserve.set_fallback(MODEL, enabled=True)
    assert caught.value.status == 409
    assert f"storageUri '{V2}' → '{v3}'" in caught.value.message
    assert "plan again" in str(caught.value.hint)
    assert predictor(kube_api)["model"]["storageUri"] == v3  # the other writer's change stays


async def test_conflict_after_a_lost_answer_counts_as_done(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2, annotations={PREVIOUS_URI: V1})
    # As if an earlier attempt had gone through and its answer was lost.
    kube_api.before_next_patch(
        lambda api: api.write(NAMESPACE, MODEL, {"spec": {"predictor": {"model": {"storageUri": V1}}}})
    )
    result = await kserve.rollback(MODEL)
    assert result.after.model_uri == V1


async def test_unknown_model_is_not_found(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    with pytest.raises(RejectedIntegrationError) as caught:
        await kserve.plan_rollback("nope")
    assert caught.value.status == 404
    assert 'inferenceservices.serving.kserve.io "nope" not found' in caught.value.message


async def test_read_only_identity_can_plan_but_not_apply(
    kube_api: FakeKubeApi, kube_url: str, tmp_path: Path
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, V2)
    kubeconfig = write_kubeconfig(tmp_path / "kc", kube_url, {"token": "token-read-only"})
    layer = build_instance("prod-kserve", kserve_config(kubeconfig))
    await layer.plan_fallback(MODEL, enabled=True)
    with pytest.raises(RejectedIntegrationError) as caught:
        await layer.set_fallback(MODEL, enabled=True)
    check = await layer.check()
    await layer.aclose()
    assert caught.value.status == 403
    assert check.authenticated is True
    assert check.error is not None
    assert "not allowed to patch inferenceservices" in check.error


async def test_check_reports_reachability_and_permissions(
    kube_api: FakeKubeApi, kube_url: str, kserve: KServeServing, tmp_path: Path
) -> None:
    ok = await kserve.check()
    assert ok.ok
    assert ok.version == "v1.31.0-fake"
    bad = build_instance("x", kserve_config(write_kubeconfig(tmp_path / "bad", kube_url, {"token": "wrong"})))
    refused = await bad.check()
    await bad.aclose()
    assert refused.authenticated is False
    down = build_instance(
        "y", kserve_config(write_kubeconfig(tmp_path / "down", "http://127.0.0.1:9", {"token": "t"}))
    )
    unreachable = await down.check()
    await down.aclose()
    assert not unreachable.reachable
    assert "cannot connect" in str(unreachable.error)


async def test_reload_is_not_a_kserve_operation(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    action = actions(kserve).get("serving.reload_model")
    with pytest.raises(InputError) as caught:
        await action.plan(action.params_model.model_validate({"model": MODEL}), CTX)
    assert caught.value.message == "serving instance prod-kserve (kserve) does not support reload"
