"""The MLflow fixture and its helpers work against the real server (other suites rely on them)."""

from __future__ import annotations

import httpx
import pytest

from tests.system.fixtures.mlflow import (
    AUTH_ADMIN,
    MlflowServer,
    create_model,
    create_run,
    create_version,
)

pytestmark = pytest.mark.system


def test_helpers_register_versions_with_tags_and_run_ids(mlflow_server: MlflowServer) -> None:
    create_model(mlflow_server.url, "fixture-model")
    run_id = create_run(mlflow_server.url)
    first = create_version(mlflow_server.url, "fixture-model", "s3://dummy/a", {"k": "v"})
    second = create_version(mlflow_server.url, "fixture-model", "s3://dummy/b", run_id=run_id)

    assert (first, second) == ("1", "2")
    r = httpx.get(
        f"{mlflow_server.url}/api/2.0/mlflow/model-versions/get",
        params={"name": "fixture-model", "version": "2"},
    )
    version = r.json()["model_version"]
    assert version["run_id"] == run_id
    assert version["status"] == "READY"
    assert (mlflow_server.bin_dir / "mlflow").exists()


def test_auth_server_requires_credentials(mlflow_auth_server: MlflowServer) -> None:
    url = f"{mlflow_auth_server.url}/api/2.0/mlflow/registered-models/search"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=AUTH_ADMIN).status_code == 200
