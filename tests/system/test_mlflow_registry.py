"""`MlflowRegistry` against a real MLflow server: reads, writes, errors and auth."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.errors import RejectedIntegrationError
from integrations.credentials import BasicAuth, SecretRef
from integrations.http import HttpPolicy
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from tests.system.fixtures.mlflow import (
    AUTH_ADMIN,
    MlflowServer,
    create_model,
    create_run,
    create_version,
)

pytestmark = [
    pytest.mark.system,
    # integrations/http.py passes tenacity's deprecated `initial=`; drop once main fixes it.
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
]

FAST = HttpPolicy(retries=0, connect_timeout_s=2, read_timeout_s=10)


def _config(url: str, **extra: object) -> MlflowRegistryConfig:
    return MlflowRegistryConfig.model_validate({"kind": "mlflow", "url": url, **extra})


@pytest.fixture
async def registry(mlflow_server: MlflowServer) -> AsyncIterator[ModelRegistry]:
    instance = build_instance("test-mlflow", _config(mlflow_server.url))
    yield instance
    await instance.aclose()


def _model_name() -> str:
    return f"model-{uuid.uuid4().hex[:8]}"


async def test_check_reports_version_and_auth(registry: ModelRegistry) -> None:
    result = await registry.check()

    assert result.ok
    assert result.reachable
    assert result.authenticated
    assert result.version is not None
    assert result.version.startswith("3.")
    assert result.kind == "mlflow"
    assert result.name == "test-mlflow"


async def test_search_lists_versions_newest_first_with_aliases_tags_and_runs(
    registry: ModelRegistry, mlflow_server: MlflowServer
) -> None:
    model = _model_name()
    create_model(mlflow_server.url, model)
    run_id = create_run(mlflow_server.url)
    create_version(mlflow_server.url, model, "s3://dummy/1", {"validated": "true"})
    create_version(mlflow_server.url, model, "s3://dummy/2", run_id=run_id)
    await registry.set_alias(model, "champion", "1")
    await registry.set_alias(model, "challenger", "1")

    versions = await registry.search_versions(model)

    assert [v.version for v in versions] == ["2", "1"]
    newest, oldest = versions
    assert newest.run_id == run_id
    assert oldest.run_id is None
    assert newest.source == "s3://dummy/2"
    assert newest.status == "READY"
    assert oldest.tags == {"validated": "true"}
    assert newest.tags == {}
    assert oldest.aliases == ("challenger", "champion")
    assert newest.aliases == ()
    assert oldest.created_at <= newest.created_at


async def test_alias_get_set_delete_and_version_tags(
    registry: ModelRegistry, mlflow_server: MlflowServer
) -> None:
    model = _model_name()
    create_model(mlflow_server.url, model)
    create_version(mlflow_server.url, model, "s3://dummy/1")

    assert await registry.get_alias(model, "champion") is None
    await registry.set_alias(model, "champion", "1")
    current = await registry.get_alias(model, "champion")
    assert current is not None
    assert current.version == "1"
    assert current.aliases == ("champion",)
    assert (await registry.get_model(model)).aliases == {"champion": "1"}

    await registry.set_version_tag(model, "1", "note", "checked")
    assert (await registry.get_version(model, "1")).tags == {"note": "checked"}
    await registry.delete_version_tag(model, "1", "note")
    await registry.delete_version_tag(model, "1", "note")  # absent: not an error
    assert (await registry.get_version(model, "1")).tags == {}

    await registry.delete_alias(model, "champion")
    await registry.delete_alias(model, "champion")  # absent: not an error
    assert await registry.get_alias(model, "champion") is None


async def test_model_names_with_quotes_are_searchable(
    registry: ModelRegistry, mlflow_server: MlflowServer
) -> None:
    model = f"it's {_model_name()}"
    create_model(mlflow_server.url, model)
    create_version(mlflow_server.url, model, "s3://dummy/1")

    assert [v.version for v in await registry.search_versions(model)] == ["1"]


async def test_unknown_model_and_version_are_clear_404s(
    registry: ModelRegistry, mlflow_server: MlflowServer
) -> None:
    model = _model_name()
    with pytest.raises(RejectedIntegrationError) as unknown_model:
        await registry.search_versions(model)
    assert unknown_model.value.status == 404
    assert f"getting model {model!r}" in str(unknown_model.value)
    assert "RESOURCE_DOES_NOT_EXIST" in str(unknown_model.value)
    assert "check the name of the resource" in str(unknown_model.value)

    create_model(mlflow_server.url, model)
    with pytest.raises(RejectedIntegrationError) as unknown_version:
        await registry.get_version(model, "9")
    assert unknown_version.value.status == 404
    assert f"getting version 9 of model {model!r}" in str(unknown_version.value)


async def test_reserved_alias_is_refused_with_mlflow_reason(
    registry: ModelRegistry, mlflow_server: MlflowServer
) -> None:
    model = _model_name()
    create_model(mlflow_server.url, model)
    create_version(mlflow_server.url, model, "s3://dummy/1")

    with pytest.raises(RejectedIntegrationError) as refused:
        await registry.set_alias(model, "latest", "1")

    assert refused.value.status == 400
    assert "INVALID_PARAMETER_VALUE" in str(refused.value)
    assert "reserved" in str(refused.value)


def _grant_read(url: str, model: str, username: str) -> None:
    r = httpx.post(
        f"{url}/api/2.0/mlflow/users/create",
        json={"username": username, "password": "reader-pass-1234"},
        auth=AUTH_ADMIN,
    )
    r.raise_for_status()
    # MLflow 3.x grants per resource type (2.x had registered-models/permissions/create).
    r = httpx.post(
        f"{url}/api/3.0/mlflow/users/permissions/grant",
        json={
            "username": username,
            "resource_type": "registered_model",
            "resource_id": model,
            "permission": "READ",
        },
        auth=AUTH_ADMIN,
    )
    r.raise_for_status()


async def test_basic_auth_accepted_refused_and_forbidden(
    mlflow_auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = mlflow_auth_server.url
    model = _model_name()
    create_model(url, model, auth=AUTH_ADMIN)
    create_version(url, model, "s3://dummy/1", auth=AUTH_ADMIN)
    reader = f"reader-{uuid.uuid4().hex[:6]}"
    _grant_read(url, model, reader)
    monkeypatch.setenv("ADMIN_PASSWORD", AUTH_ADMIN[1])
    monkeypatch.setenv("WRONG_PASSWORD", "not-the-password")
    monkeypatch.setenv("READER_PASSWORD", "reader-pass-1234")

    def basic(user: str, env: str) -> ModelRegistry:
        auth = BasicAuth(type="basic", username=user, password=SecretRef(env=env))
        return build_instance("auth-mlflow", _config(url, auth=auth.model_dump(), http=FAST))

    admin, wrong, reader_registry = (
        basic(AUTH_ADMIN[0], "ADMIN_PASSWORD"),
        basic(AUTH_ADMIN[0], "WRONG_PASSWORD"),
        basic(reader, "READER_PASSWORD"),
    )
    try:
        admin_check = await admin.check()
        assert admin_check.ok
        assert admin_check.version is not None
        await admin.set_alias(model, "champion", "1")

        wrong_check = await wrong.check()
        assert wrong_check.reachable
        assert wrong_check.authenticated is False
        assert not wrong_check.ok
        assert "not-the-password" not in (wrong_check.error or "")
        with pytest.raises(RejectedIntegrationError) as unauthorized:
            await wrong.get_model(model)
        assert unauthorized.value.status == 401
        assert "check the credentials" in str(unauthorized.value)
        assert "not-the-password" not in str(unauthorized.value)

        current = await reader_registry.get_alias(model, "champion")
        assert current is not None
        assert current.version == "1"
        with pytest.raises(RejectedIntegrationError) as forbidden:
            await reader_registry.set_alias(model, "champion", "1")
        assert forbidden.value.status == 403
        message = str(forbidden.value)
        assert f"setting alias 'champion' of model {model!r}" in message
        assert "check the token's permissions" in message
    finally:
        for instance in (admin, wrong, reader_registry):
            await instance.aclose()
