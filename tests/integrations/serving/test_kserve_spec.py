"""Reading InferenceService objects and building merge patches, without a server; and config."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.errors import InputError
from integrations.serving.config import (
    HttpServingConfig,
    KServeConfig,
    MLServerConfig,
    ServingConfig,
)
from integrations.serving.kserve import KServeServing
from integrations.serving.kserve_spec import PREVIOUS_URI, Target, view


def isvc(
    predictor: dict[str, Any], status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "fraud",
            "namespace": "ml",
            "resourceVersion": "77",
            "generation": 3,
            "annotations": annotations or {},
        },
        "spec": {"predictor": predictor},
        "status": status or {},
    }


def test_older_kserve_without_deployment_mode_is_serverless_when_traffic_shows() -> None:
    traffic = {
        "components": {
            "predictor": {
                "traffic": [
                    {"revisionName": "fraud-predictor-00002", "percent": 20, "latestRevision": True},
                    {
                        "revisionName": "fraud-predictor-00001",
                        "percent": 80,
                        "tag": "prev",
                        "latestRevision": False,
                    },
                ]
            }
        }
    }
    seen = view(isvc({"canaryTrafficPercent": 20, "model": {"storageUri": "s3://v2"}}, traffic))
    assert seen.serverless
    assert seen.canary_in_flight
    assert seen.rolled_back_revision() == "fraud-predictor-00001"
    raw = view(
        isvc(
            {"canaryTrafficPercent": 20, "model": {"storageUri": "s3://v2"}},
            annotations={"serving.kserve.io/deploymentMode": "RawDeployment"},
        )
    )
    assert not raw.serverless
    assert not raw.canary_in_flight


def test_merge_patch_sends_only_changes_with_the_resource_version() -> None:
    seen = view(
        isvc(
            {
                "canaryTrafficPercent": 20,
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://v2"},
            },
            annotations={PREVIOUS_URI: "s3://v1"},
        )
    )
    target = Target(
        storage_uri="s3://base", remove_canary=True, annotations={PREVIOUS_URI: "s3://v2", "gone": None}
    )
    assert target.merge_patch(seen) == {
        "metadata": {"resourceVersion": "77", "annotations": {PREVIOUS_URI: "s3://v2"}},
        "spec": {"predictor": {"model": {"storageUri": "s3://base"}, "canaryTrafficPercent": None}},
    }
    predicted = target.predict(seen)
    assert (predicted.storage_uri, predicted.canary_percent) == ("s3://base", None)
    assert target.reached_by(predicted)
    assert not target.reached_by(seen)


def test_legacy_framework_key_carries_the_format() -> None:
    seen = view(isvc({"xgboost": {"storageUri": "gs://m/1"}}))
    assert (seen.predictor_key, seen.model_format, seen.storage_uri) == ("xgboost", "xgboost", "gs://m/1")
    assert Target(storage_uri="gs://m/0").merge_patch(seen)["spec"] == {
        "predictor": {"xgboost": {"storageUri": "gs://m/0"}}
    }


@pytest.mark.parametrize("name", ["../secrets", "Fraud", "fraud/status", "a" * 64, "-x"])
async def test_names_that_are_not_inference_service_names_are_refused(
    kserve: KServeServing, name: str
) -> None:
    with pytest.raises(InputError, match="not a valid InferenceService name"):
        await kserve.state(name)


def test_config_union_picks_the_kind() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(ServingConfig)
    kinds = [
        adapter.validate_python({"kind": "kserve", "namespace": "ml", "cluster": {"type": "in_cluster"}}),
        adapter.validate_python({"kind": "mlserver", "url": "http://mlserver:8080"}),
        adapter.validate_python(
            {
                "kind": "http",
                "url": "http://router",
                "get_route": {"url": "/r", "route_field": "route"},
                "set_route": {"method": "PUT", "url": "/r"},
            }
        ),
    ]
    assert [type(k) for k in kinds] == [KServeConfig, MLServerConfig, HttpServingConfig]
    with pytest.raises(ValidationError, match="not a valid Kubernetes namespace"):
        adapter.validate_python({"kind": "kserve", "namespace": "ML Team", "cluster": {"type": "in_cluster"}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        adapter.validate_python({"kind": "mlserver", "url": "http://m", "token": "inline"})
