"""Generic behaviour of the serving actions: health verification, instances, params."""

from __future__ import annotations

import threading

import pytest
import yaml
from pydantic import ValidationError

from bot.config import DEFAULT_RUNBOOKS_DIR
from bot.errors import ConfigError, InputError, RetryableIntegrationError
from bot.runbook.models import RunbookSpec
from bot.runbook.planning import dry_run
from bot.runbook.templating import Templates
from integrations.base import ActionContext, ActionRegistry
from integrations.serving.actions import register_actions
from integrations.serving.kserve import KServeServing
from tests.fakes.kube_api import FakeKubeApi
from tests.integrations.serving.conftest import NAMESPACE

CTX = ActionContext()
MODEL = "fraud-detector"


def registry_for(**instances: KServeServing) -> ActionRegistry:
    registry = ActionRegistry()
    register_actions(registry, instances)
    return registry


def test_registers_the_six_actions_once(kserve: KServeServing) -> None:
    registry = registry_for(prod=kserve)
    assert registry.names() == [
        "serving.disable_fallback",
        "serving.enable_fallback",
        "serving.ensure_version",
        "serving.health",
        "serving.reload_model",
        "serving.rollback",
    ]
    assert registry.get("serving.health").mutating is False
    assert registry.get("serving.rollback").mutating is True
    with pytest.raises(ConfigError, match="registered twice"):
        register_actions(registry, {"prod": kserve})


async def test_health_passes_when_ready(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://m/v1")
    health = registry_for(prod=kserve).get("serving.health")
    params = health.params_model.model_validate({"model": MODEL})
    plan = await health.plan(params, CTX)
    result = await health.apply(params, CTX)
    assert plan.current == plan.intended == {"model": MODEL, "healthy": True}
    assert not result.changed
    assert result.summary == "InferenceService ml/fraud-detector: healthy, Ready=True"
    assert health.inverse(params, result.before) is None


async def test_health_fails_loudly_when_not_ready(kube_api: FakeKubeApi, kserve: KServeServing) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://m/v1")
    kube_api.set_ready(
        NAMESPACE,
        MODEL,
        False,
        "RevisionFailed",
        "Revision fraud-detector-predictor-00002 failed: model not found",
    )
    health = registry_for(prod=kserve).get("serving.health")
    params = health.params_model.model_validate({"model": MODEL})
    plan = await health.plan(params, CTX)
    assert plan.current["healthy"] is False
    with pytest.raises(RetryableIntegrationError) as caught:
        await health.apply(params, CTX)
    error = caught.value
    assert error.message == (
        "kserve instance prod-kserve: InferenceService ml/fraud-detector: not healthy, Ready=False "
        "(RevisionFailed: Revision fraud-detector-predictor-00002 failed: model not found)"
    )
    assert error.context["ready_reason"] == "RevisionFailed"


async def test_health_waits_for_a_rollout_up_to_the_timeout(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://m/v1")
    kube_api.set_ready(NAMESPACE, MODEL, False, "RevisionMissing")
    timer = threading.Timer(0.4, kube_api.set_ready, (NAMESPACE, MODEL, True))
    timer.start()
    health = registry_for(prod=kserve).get("serving.health")
    result = await health.apply(
        health.params_model.model_validate({"model": MODEL, "timeout_s": 5, "interval_s": 0.1}), CTX
    )
    timer.join()
    assert result.after["healthy"] is True

    kube_api.set_ready(NAMESPACE, MODEL, False, "RevisionMissing")
    with pytest.raises(RetryableIntegrationError, match=r"after waiting 0.3s"):
        await health.apply(
            health.params_model.model_validate({"model": MODEL, "timeout_s": 0.3, "interval_s": 0.1}), CTX
        )


async def test_health_is_false_while_the_controller_has_not_caught_up(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://m/v1")
    kube_api.reconcile = False
    kube_api.write(NAMESPACE, MODEL, {"spec": {"predictor": {"model": {"storageUri": "s3://x"}}}})
    report = await kserve.health(MODEL)
    assert not report.healthy
    assert "generation 2 not yet observed by the controller" in report.summary


def test_instance_must_be_named_when_several_are_configured(kserve: KServeServing) -> None:
    registry = registry_for(prod=kserve, staging=kserve)
    action = registry.get("serving.enable_fallback")
    with pytest.raises(InputError, match="several serving instances"):
        action.target(action.params_model.model_validate({"model": MODEL}))
    with pytest.raises(InputError, match="unknown serving instance 'qa'"):
        action.target(action.params_model.model_validate({"model": MODEL, "instance": "qa"}))
    staging = action.params_model.model_validate({"model": MODEL, "instance": "staging"})
    assert action.target(staging) == "serving:prod-kserve/fraud-detector"


def test_params_are_validated(kserve: KServeServing) -> None:
    rollback = registry_for(prod=kserve).get("serving.rollback")
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        rollback.params_model.model_validate({"model": MODEL, "canary_percent": 150})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        rollback.params_model.model_validate({"model": MODEL, "storage_uri": "s3://x"})
    with pytest.raises(ValidationError):
        rollback.params_model.model_validate({"model": ""})


async def test_a_dry_run_plans_the_health_check_against_the_planned_fallback(
    kube_api: FakeKubeApi, kserve: KServeServing
) -> None:
    """enable-naive-fallback: the check after the switch is about the fallback, not what serves now."""
    kube_api.add_inference_service(NAMESPACE, MODEL, "s3://m/v1")
    text = (DEFAULT_RUNBOOKS_DIR / "enable-naive-fallback.yaml").read_text()
    spec = RunbookSpec.model_validate(yaml.safe_load(text))
    steps = await dry_run(
        spec,
        registry_for(prod=kserve),
        Templates(),
        inputs={"model": MODEL, "serving": None, "healthy_within_s": 60},
        incident={"ref": "INC-1", "labels": {"model": MODEL}, "models": [MODEL]},
        run={"ref": None},
        secrets=(),
        actor="alice",
        plan_timeout=10,
    )
    switch, healthy = steps
    assert switch.intended is not None and switch.intended["mode"] == "fallback"
    assert healthy.error is None and healthy.summary is not None
    assert healthy.summary.startswith(
        f"{MODEL} on prod-kserve: checks that it serves healthily once an earlier step made it "
        "serve its fallback (s3://models/fraud-baseline)"
    )
    assert healthy.details is not None and healthy.details["planned"]["mode"] == "fallback"
