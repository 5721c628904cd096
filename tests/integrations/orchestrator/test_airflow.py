from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import RejectedIntegrationError
from integrations.http import HttpPolicy, ServiceClient
from integrations.orchestrator.airflow import AirflowOrchestrator
from integrations.orchestrator.build import build_instance
from integrations.orchestrator.common import Credentials
from integrations.orchestrator.config import AirflowConfig
from integrations.orchestrator.protocol import TrainingOrchestrator
from tests.integrations.orchestrator.fakes import FakeAirflow, airflow_dag, jwt

URL = "http://airflow.test:8080"


def airflow(
    fake: FakeAirflow,
    *,
    login: tuple[str, str] = ("bot", "pw"),
    token: str | None = None,
    api_version: int | None = None,
) -> AirflowOrchestrator:
    client = ServiceClient(
        kind="Airflow",
        base_url=URL,
        policy=HttpPolicy(retries=0),
        transport=httpx.MockTransport(fake),
    )
    if token is not None:
        credentials = Credentials(token=SecretStr(token))
    else:
        credentials = Credentials(username=login[0], password=SecretStr(login[1]))
    return AirflowOrchestrator(
        "airflow", client, credentials, api_version=api_version, clock=lambda: fake.now
    )


def paths(fake: FakeAirflow) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in fake.requests]


async def test_airflow_3_reads_the_dag_and_its_last_runs_with_a_jwt() -> None:
    fake = FakeAirflow()
    state = await airflow(fake).get_schedule("retrain-fraud", last_runs=5)
    assert state.paused is False
    assert state.schedule_id == "retrain-fraud"
    assert state.description == "Every hour"
    assert state.next_run == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert state.unschedulable_reason is None
    assert [(r.run_id, r.state, r.run_type) for r in state.runs] == [
        ("scheduled__2026-11-30T14:00:00+00:00", "success", "scheduled"),
        ("manual-1", "queued", "manual"),
    ]
    assert state.runs[0].start == datetime(2026, 11, 30, 15, 0, 1, tzinfo=UTC)
    assert state.runs[1].start is None
    assert paths(fake) == [
        "GET /api/v2/version",
        "POST /auth/token",
        "GET /api/v2/dags/retrain-fraud",
        "GET /api/v2/dags/retrain-fraud/dagRuns",
    ]
    runs_request = fake.requests[-1]
    assert runs_request.url.params["order_by"] == "-run_after"
    assert runs_request.url.params["limit"] == "5"
    assert runs_request.headers["authorization"].startswith("Bearer ")


async def test_token_is_reused_until_close_to_expiry() -> None:
    fake = FakeAirflow(token_ttl_s=3600)
    orchestrator = airflow(fake)
    await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    assert fake.token_requests == 1
    fake.now += 3600 - 30  # within the refresh margin
    await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    assert fake.token_requests == 2


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_token_is_refreshed_once(status: int) -> None:
    fake = FakeAirflow()
    orchestrator = airflow(fake)
    await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    fake.invalid_token_status = status
    fake.revoke_tokens()
    state = await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    assert state.paused is False
    assert fake.token_requests == 2


async def test_forbidden_with_a_fresh_token_is_a_permission_error() -> None:
    fake = FakeAirflow(users={"viewer": "pw"})
    fake.read_only.add("viewer")
    orchestrator = airflow(fake, login=("viewer", "pw"))
    await orchestrator.get_schedule("retrain-fraud", last_runs=0)
    with pytest.raises(RejectedIntegrationError) as info:
        await orchestrator.set_paused("retrain-fraud", True)
    error = info.value
    assert error.status == 403
    assert "pausing DAG 'retrain-fraud'" in str(error)
    assert error.hint == "check the token's permissions"
    assert fake.token_requests == 2  # one retry with a new token, then the real verdict


async def test_wrong_password_is_unauthorized_and_never_shown() -> None:
    fake = FakeAirflow()
    with pytest.raises(RejectedIntegrationError) as info:
        await airflow(fake, login=("bot", "wrong-secret")).get_schedule("retrain-fraud")
    error = info.value
    assert error.status == 401
    assert "Invalid credentials on getting a token as user 'bot'" in str(error)
    assert "wrong-secret" not in str(error)
    assert "wrong-secret" not in repr(error.to_dict())


async def test_unknown_dag_is_not_found() -> None:
    orchestrator = airflow(FakeAirflow())
    with pytest.raises(RejectedIntegrationError, match="DAG 'nope' not found") as info:
        await orchestrator.get_schedule("nope")
    assert info.value.status == 404
    with pytest.raises(RejectedIntegrationError, match="DAG 'nope' not found"):
        await orchestrator.set_paused("nope", True)


async def test_stale_dag_cannot_be_scheduled() -> None:
    fake = FakeAirflow()
    fake.dags["retrain-fraud"] = airflow_dag("retrain-fraud", stale=True)
    state = await airflow(fake).get_schedule("retrain-fraud")
    assert state.unschedulable_reason is not None
    assert "stale" in state.unschedulable_reason


async def test_set_paused_patches_only_is_paused() -> None:
    fake = FakeAirflow()
    orchestrator = airflow(fake)
    await orchestrator.set_paused("retrain-fraud", True)
    patch = fake.requests[-1]
    assert (patch.method, patch.url.path) == ("PATCH", "/api/v2/dags/retrain-fraud")
    assert patch.url.params["update_mask"] == "is_paused"
    assert json.loads(patch.content) == {"is_paused": True}
    assert fake.dags["retrain-fraud"]["is_paused"] is True


async def test_airflow_2_uses_api_v1_with_basic_auth() -> None:
    fake = FakeAirflow(version=1)
    orchestrator = airflow(fake)
    state = await orchestrator.get_schedule("retrain-fraud", last_runs=1)
    assert state.description == "0 * * * *"
    assert state.next_run == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert len(state.runs) == 1
    await orchestrator.set_paused("retrain-fraud", True)
    assert fake.dags["retrain-fraud"]["is_paused"] is True
    assert paths(fake) == [
        "GET /api/v2/version",
        "GET /api/v1/version",
        "GET /api/v1/dags/retrain-fraud",
        "GET /api/v1/dags/retrain-fraud/dagRuns",
        "PATCH /api/v1/dags/retrain-fraud",
    ]
    assert fake.requests[-1].headers["authorization"] == "Basic Ym90OnB3"
    assert fake.requests[3].url.params["order_by"] == "-execution_date"
    assert fake.token_requests == 0


async def test_airflow_2_inactive_dag_is_stale() -> None:
    fake = FakeAirflow(version=1)
    fake.dags["retrain-fraud"] = airflow_dag("retrain-fraud", stale=True, version=1)
    state = await airflow(fake).get_schedule("retrain-fraud", last_runs=0)
    assert state.unschedulable_reason is not None


async def test_configured_api_version_skips_detection() -> None:
    fake = FakeAirflow(version=1)
    await airflow(fake, api_version=1).get_schedule("retrain-fraud", last_runs=0)
    assert paths(fake) == ["GET /api/v1/dags/retrain-fraud"]


async def test_no_rest_api_says_to_check_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="Not Found")

    orchestrator = AirflowOrchestrator(
        "airflow",
        ServiceClient(kind="Airflow", base_url=URL, transport=httpx.MockTransport(handler)),
        Credentials(),
    )
    with pytest.raises(RejectedIntegrationError, match="no Airflow REST API") as info:
        await orchestrator.get_schedule("retrain-fraud")
    assert info.value.hint is not None
    assert "without /api" in info.value.hint


async def test_bearer_token_is_sent_as_is() -> None:
    fake = FakeAirflow()
    token = jwt(fake.now + 3600)
    fake.valid_tokens.add(token)
    await airflow(fake, token=token).get_schedule("retrain-fraud", last_runs=0)
    assert paths(fake) == ["GET /api/v2/version", "GET /api/v2/dags/retrain-fraud"]
    assert fake.requests[-1].headers["authorization"] == f"Bearer {token}"
    assert fake.token_requests == 0


async def test_check_reports_version_and_authentication() -> None:
    ok = await airflow(FakeAirflow()).check()
    assert (ok.ok, ok.version, ok.kind, ok.url) == (True, "3.3.2", "airflow", URL)
    denied = await airflow(FakeAirflow(), login=("bot", "bad")).check()
    assert (denied.reachable, denied.authenticated, denied.ok) == (True, False, False)


async def test_check_reports_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ServiceClient(
        kind="Airflow",
        base_url=URL,
        policy=HttpPolicy(retries=0),
        transport=httpx.MockTransport(refuse),
    )
    result = await AirflowOrchestrator("airflow", client, Credentials()).check()
    assert (result.reachable, result.ok) == (False, False)
    assert result.error is not None
    assert "cannot connect" in result.error


def test_build_instance_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_PASSWORD", "s3cret-pw")
    config = AirflowConfig.model_validate(
        {
            "kind": "airflow",
            "url": URL,
            "auth": {"type": "basic", "username": "bot", "password": {"env": "AIRFLOW_PASSWORD"}},
            "api_version": 2,
        }
    )
    instance = build_instance("airflow", config, transport=httpx.MockTransport(FakeAirflow()))
    assert isinstance(instance, AirflowOrchestrator)
    assert isinstance(instance, TrainingOrchestrator)
    assert "s3cret-pw" not in repr(vars(instance))
    with pytest.raises(ValueError, match="api_version"):
        AirflowConfig.model_validate({"kind": "airflow", "url": URL, "api_version": 3})
