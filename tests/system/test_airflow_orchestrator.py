"""The orchestrator kind against real Airflow servers: Airflow 3 (JWT) and Airflow 2 (basic).

Each test taking ``server`` runs against both; the API version is detected, not configured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from integrations.base import ActionContext
from integrations.orchestrator.actions import (
    PauseScheduleAction,
    ResumeScheduleAction,
    ScheduleParams,
)
from integrations.orchestrator.airflow import AirflowOrchestrator
from integrations.orchestrator.config import AirflowConfig
from tests.system.fixtures.airflow import JWT_LIFETIME_S, PASSWORDS, AirflowServer
from tests.system.servers import free_port

pytestmark = pytest.mark.system

CTX = ActionContext(incident_ref="INC-9", step_id="pause-retraining")
SECRET_ENV = "AIRFLOW_TEST_SECRET"


def make(url: str, user: str = "admin", clock: Callable[[], float] | None = None) -> AirflowOrchestrator:
    config = AirflowConfig.model_validate(
        {
            "kind": "airflow",
            "url": url,
            "auth": {"type": "basic", "username": user, "password": {"env": SECRET_ENV}},
            "http": {"retries": 0, "connect_timeout_s": 2, "read_timeout_s": 20},
        }
    )
    return AirflowOrchestrator.from_config("airflow", config, clock=clock or time.time)


@pytest.fixture(params=["airflow3", "airflow2"])
def server(request: pytest.FixtureRequest) -> AirflowServer:
    fixture = "airflow_server" if request.param == "airflow3" else "airflow2_server"
    found: AirflowServer = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def orchestrator(
    server: AirflowServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AirflowOrchestrator]:
    monkeypatch.setenv(SECRET_ENV, PASSWORDS["admin"])
    instance = make(server.url)
    yield instance
    await instance.aclose()


async def test_check_detects_the_api_and_authenticates(
    orchestrator: AirflowOrchestrator, server: AirflowServer
) -> None:
    result = await orchestrator.check()
    assert result.ok, result.error
    assert result.version == server.version
    assert await orchestrator.api_version() == server.api_version


async def test_wrong_password_is_unauthorized(server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong-password-123")
    instance = make(server.url)
    result = await instance.check()
    with pytest.raises(RejectedIntegrationError, match="401") as info:
        await instance.get_schedule("retrain-fraud")
    await instance.aclose()
    assert (result.reachable, result.authenticated) == (True, False)
    assert info.value.status == 401
    assert info.value.hint == "check the credentials configured for this instance"
    assert "wrong-password-123" not in str(info.value)


async def test_unreachable_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "x")
    instance = make(f"http://127.0.0.1:{free_port()}")
    result = await instance.check()
    with pytest.raises(RetryableIntegrationError, match="cannot connect"):
        await instance.get_schedule("retrain-fraud")
    await instance.aclose()
    assert (result.reachable, result.ok) == (False, False)


async def test_schedule_state_and_last_runs(orchestrator: AirflowOrchestrator, server: AirflowServer) -> None:
    run_id = f"manual-{time.time_ns()}"
    server.trigger("retrain-fraud", run_id)
    state = await orchestrator.get_schedule("retrain-fraud", last_runs=3)
    assert state.description == "Every hour"
    assert state.next_run is not None
    assert state.unschedulable_reason is None
    assert (state.runs[0].run_id, state.runs[0].state) == (run_id, "queued")
    assert len(state.runs) <= 3


async def test_pause_plans_applies_is_idempotent_and_undoes(
    orchestrator: AirflowOrchestrator, server: AirflowServer
) -> None:
    server.set_paused("retrain-fraud", False)
    instances = {"airflow": orchestrator}
    pause, resume = PauseScheduleAction(instances), ResumeScheduleAction(instances)
    params = ScheduleParams(schedule="retrain-fraud")

    plan = await pause.plan(params, CTX)
    assert plan.summary == "schedule retrain-fraud: active → paused"
    assert server.is_paused("retrain-fraud") is False

    result = await pause.apply(params, CTX)
    assert (result.before, result.after) == ({"paused": False}, {"paused": True})
    assert server.is_paused("retrain-fraud") is True

    again = await pause.apply(params, CTX)
    assert (again.before, again.after, again.changed) == ({"paused": True}, {"paused": True}, False)

    undo = pause.inverse(params, result.before)
    assert undo is not None
    assert undo.action == resume.name
    restored = await resume.apply(resume.parse(undo.params), CTX)
    assert restored.summary == "schedule retrain-fraud: paused → active"
    assert server.is_paused("retrain-fraud") is False


async def test_undo_keeps_an_already_paused_schedule_paused(
    orchestrator: AirflowOrchestrator, server: AirflowServer
) -> None:
    server.set_paused("retrain-churn", True)
    pause = PauseScheduleAction({"airflow": orchestrator})
    params = ScheduleParams(schedule="retrain-churn")
    result = await pause.apply(params, CTX)
    assert result.summary == "schedule retrain-churn: already paused"
    undo = pause.inverse(params, result.before)
    assert undo is not None
    assert undo.action == "orchestrator.pause_schedule"
    await pause.apply(pause.parse(undo.params), CTX)
    assert server.is_paused("retrain-churn") is True


async def test_unknown_dag_is_not_found(orchestrator: AirflowOrchestrator) -> None:
    pause = PauseScheduleAction({"airflow": orchestrator})
    with pytest.raises(RejectedIntegrationError, match="DAG 'retrain-nope' not found") as info:
        await pause.apply(ScheduleParams(schedule="retrain-nope"), CTX)
    assert info.value.status == 404


async def test_a_viewer_cannot_pause(server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.set_paused("retrain-fraud", False)
    monkeypatch.setenv(SECRET_ENV, PASSWORDS["viewer"])
    viewer = make(server.url, user="viewer")
    pause = PauseScheduleAction({"airflow": viewer})
    params = ScheduleParams(schedule="retrain-fraud")
    assert (await pause.plan(params, CTX)).changes  # reading is allowed
    with pytest.raises(RejectedIntegrationError, match=r"403 .*on pausing DAG 'retrain-fraud'") as info:
        await pause.apply(params, CTX)
    await viewer.aclose()
    assert info.value.hint == "check the token's permissions"
    assert server.is_paused("retrain-fraud") is False


async def test_resuming_a_stale_dag_is_refused(
    orchestrator: AirflowOrchestrator, server: AirflowServer
) -> None:
    server.mark_stale("retrain-stale")
    resume = ResumeScheduleAction({"airflow": orchestrator})
    params = ScheduleParams(schedule="retrain-stale")
    plan = await resume.plan(params, CTX)
    assert "apply will refuse" in plan.summary
    with pytest.raises(RejectedIntegrationError, match=r"refusing to resume .*stale"):
        await resume.apply(params, CTX)
    assert server.is_paused("retrain-stale") is True


async def test_expired_tokens_are_replaced(
    airflow_server: AirflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before expiry by the client's clock; or, with a lagging clock that trusts an expired
    token, after the server rejects it."""
    monkeypatch.setenv(SECRET_ENV, PASSWORDS["admin"])
    on_time = make(airflow_server.url)
    lagging = make(airflow_server.url, clock=lambda: time.time() - 3600)
    for instance in (on_time, lagging):
        await instance.get_schedule("retrain-fraud", last_runs=0)
    token_of_the_same_age = airflow_server.token()
    await asyncio.sleep(JWT_LIFETIME_S + 1)
    async with httpx.AsyncClient() as raw:  # the server rejects tokens of that age by now
        old = await raw.get(
            f"{airflow_server.api}/dags/retrain-fraud",
            headers={"Authorization": f"Bearer {token_of_the_same_age}"},
        )
    assert old.status_code in (401, 403)
    for instance in (on_time, lagging):
        state = await instance.get_schedule("retrain-fraud", last_runs=0)
        await instance.aclose()
        assert state.schedule_id == "retrain-fraud"
