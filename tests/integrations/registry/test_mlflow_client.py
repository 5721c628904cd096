"""The MLflow client and registry on MockTransport: auth, retries, errors, parsing, check()."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.errors import InputError, RejectedIntegrationError, RetryableIntegrationError
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from tests.integrations.registry.mlflow_mock import FakeMlflow, version_json
from tests.system.servers import free_port

pytestmark = [
    # integrations/http.py passes tenacity's deprecated `initial=`; drop once main fixes it.
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
]

API = "/api/2.0/mlflow"
TOKEN = "tok-0123456789-secret"
POLICY = {"retries": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.02}


def config(url: str = "http://mlflow.test:5000/", **extra: object) -> MlflowRegistryConfig:
    return MlflowRegistryConfig.model_validate(
        {"kind": "mlflow", "url": url, "http": POLICY, **extra}
    )


@pytest.fixture
def fake() -> FakeMlflow:
    return FakeMlflow()


@pytest.fixture
async def registry(
    fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ModelRegistry]:
    monkeypatch.setenv("MLFLOW_TOKEN", TOKEN)
    auth = {"type": "bearer", "token": {"env": "MLFLOW_TOKEN"}}
    instance = build_instance("prod", config(auth=auth), transport=fake.transport())
    yield instance
    await instance.aclose()


async def test_bearer_token_is_sent_and_never_shown(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        401, json={"error_code": "UNAUTHENTICATED", "message": "bad token"}
    )

    with pytest.raises(RejectedIntegrationError) as refused:
        await registry.get_model("fraud")

    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert refused.value.status == 401
    message = str(refused.value)
    assert message.startswith("MLflow at http://mlflow.test:5000: 401 UNAUTHENTICATED")
    assert "check the credentials" in message
    assert TOKEN not in message
    assert TOKEN not in repr(registry)


async def test_check_reports_version_and_auth(registry: ModelRegistry, fake: FakeMlflow) -> None:
    fake.routes[("GET", "/version")] = httpx.Response(200, text="3.1.0")
    fake.routes[("GET", f"{API}/registered-models/search")] = httpx.Response(
        200, json={"registered_models": []}
    )

    result = await registry.check()

    assert result.ok
    assert (result.reachable, result.authenticated, result.version) == (True, True, "3.1.0")
    assert fake.calls("GET", f"{API}/registered-models/search")[0].params == {"max_results": "1"}


@pytest.mark.parametrize(
    ("status", "authenticated", "error"),
    [(401, False, "check the credentials"), (403, True, "permissions")],
)
async def test_check_reports_refused_credentials(
    registry: ModelRegistry, fake: FakeMlflow, status: int, authenticated: bool, error: str
) -> None:
    fake.routes[("GET", "/version")] = httpx.Response(status, text="You are not authenticated.")
    fake.routes[("GET", f"{API}/registered-models/search")] = httpx.Response(status)

    result = await registry.check()

    assert not result.ok
    assert result.reachable
    assert result.authenticated is authenticated
    assert result.version is None
    assert error in (result.error or "")


async def test_check_reports_a_failing_server_as_reachable_with_its_error(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", "/version")] = httpx.Response(503, text="upstream down")

    result = await registry.check()

    assert result.reachable
    assert not result.ok
    assert "503 upstream down on reading the server version" in (result.error or "")
    assert len(fake.calls("GET", "/version")) == 3  # a GET is retried


async def test_an_unreachable_server_is_reported_and_raised_as_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    instance = build_instance("down", config(url, http={**POLICY, "retries": 0}))
    try:
        result = await instance.check()
        assert not result.reachable
        assert "cannot connect on reading the server version" in (result.error or "")
        with pytest.raises(RetryableIntegrationError) as down:
            await instance.get_alias("fraud", "champion")
        assert f"MLflow at {url}: cannot connect on getting model 'fraud'" in str(down.value)
        assert "check the URL and that the system is reachable" in str(down.value)
    finally:
        await instance.aclose()


async def test_set_alias_and_tags_are_retried_as_idempotent_posts(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    unavailable = httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE"})
    fake.routes[("POST", f"{API}/registered-models/alias")] = [unavailable, httpx.Response(200)]
    fake.routes[("POST", f"{API}/model-versions/set-tag")] = [unavailable, httpx.Response(200)]

    await registry.set_alias("fraud", "champion", "6")
    await registry.set_version_tag("fraud", "6", "k", "v")

    assert [c.body for c in fake.calls("POST", f"{API}/registered-models/alias")] == [
        {"name": "fraud", "alias": "champion", "version": "6"}
    ] * 2
    assert len(fake.calls("POST", f"{API}/model-versions/set-tag")) == 2


async def test_deletes_send_their_arguments_as_a_json_body(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("DELETE", f"{API}/registered-models/alias")] = httpx.Response(200, json={})
    fake.routes[("DELETE", f"{API}/model-versions/delete-tag")] = httpx.Response(200, json={})

    await registry.delete_alias("fraud", "champion")
    await registry.delete_version_tag("fraud", "6", "k")

    assert fake.requests[0].body == {"name": "fraud", "alias": "champion"}
    assert fake.requests[1].body == {"name": "fraud", "version": "6", "key": "k"}


async def test_search_follows_pages_fills_aliases_and_sorts_newest_first(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(200, json={
        "registered_model": {"name": "fraud", "aliases": [{"alias": "champion", "version": "2"}]}
    })
    fake.routes[("GET", f"{API}/model-versions/search")] = [
        httpx.Response(200, json={"model_versions": [version_json("2", run_id="r2")],
                                  "next_page_token": "page-2"}),
        httpx.Response(200, json={"model_versions": [version_json("10"), version_json("1")]}),
    ]

    versions = await registry.search_versions("fraud")

    assert [v.version for v in versions] == ["10", "2", "1"]
    assert versions[1].aliases == ("champion",)
    assert versions[1].run_id == "r2"
    assert versions[0].run_id is None
    assert versions[2].created_at == datetime.fromtimestamp(1_700_000_001, tz=UTC)
    searches = fake.calls("GET", f"{API}/model-versions/search")
    assert searches[0].params == {"filter": "name='fraud'", "max_results": "1000"}
    assert searches[1].params["page_token"] == "page-2"


async def test_model_names_with_quotes(registry: ModelRegistry, fake: FakeMlflow) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        200, json={"registered_model": {"name": "x"}}
    )
    fake.routes[("GET", f"{API}/model-versions/search")] = httpx.Response(200, json={})

    assert await registry.search_versions("it's") == []
    assert fake.calls("GET", f"{API}/model-versions/search")[0].params["filter"] == (
        "name=\"it's\""
    )
    with pytest.raises(InputError, match="search filter cannot quote it"):
        await registry.search_versions("it's \"odd\"")


async def test_get_alias_of_an_unset_alias_is_none_without_reading_a_version(
    registry: ModelRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        200, json={"registered_model": {"name": "fraud"}}
    )

    assert await registry.get_alias("fraud", "champion") is None
    assert len(fake.requests) == 1
