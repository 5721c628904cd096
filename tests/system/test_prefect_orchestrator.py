"""The orchestrator kind against a real Prefect 3 server (basic auth, SQLite)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import ActionContext
from integrations.orchestrator.actions import (
    PauseScheduleAction,
    ResumeScheduleAction,
    ScheduleParams,
)
from integrations.orchestrator.build import build_instance
from integrations.orchestrator.config import PrefectConfig
from integrations.orchestrator.protocol import TrainingOrchestrator
from tests.system.fixtures.prefect import PREFECT_PASSWORD, PREFECT_USER, PrefectServer
from tests.system.servers import free_port

pytestmark = pytest.mark.system

CTX = ActionContext(incident_ref="INC-11", step_id="pause-retraining")


def make(url: str) -> TrainingOrchestrator:
    config = PrefectConfig.model_validate(
        {
            "kind": "prefect",
            "url": url,
            "auth": {
                "type": "basic",
                "username": PREFECT_USER,
                "password": {"env": "PREFECT_TEST_SECRET"},
            },
            "http": {"retries": 0, "connect_timeout_s": 2, "read_timeout_s": 20},
        }
    )
    return build_instance("prefect", config)


@pytest.fixture
async def orchestrator(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TrainingOrchestrator]:
    monkeypatch.setenv("PREFECT_TEST_SECRET", PREFECT_PASSWORD)
    instance = make(prefect_server.url)
    yield instance
    await instance.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"


async def test_check_reports_version(orchestrator: TrainingOrchestrator) -> None:
    result = await orchestrator.check()
    assert result.ok, result.error
    assert result.version == "3.9.1"


async def test_wrong_password_is_unauthorized(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_TEST_SECRET", "not-the-password")
    instance = make(prefect_server.url)
    result = await instance.check()
    with pytest.raises(RejectedIntegrationError) as info:
        await instance.get_schedule("retrain/anything")
    await instance.aclose()
    assert (result.reachable, result.authenticated) == (True, False)
    assert info.value.status == 401
    assert "not-the-password" not in str(info.value)


async def test_unreachable_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_TEST_SECRET", "x")
    instance = make(f"http://127.0.0.1:{free_port()}/api")
    result = await instance.check()
    await instance.aclose()
    assert (result.reachable, result.ok) == (False, False)


async def test_schedule_state_and_last_runs(
    orchestrator: TrainingOrchestrator, prefect_server: PrefectServer
) -> None:
    name = unique("fraud")
    deployment_id = prefect_server.create_deployment(name)
    run_id = prefect_server.create_flow_run(deployment_id, "manual-retrain")
    by_name = await orchestrator.get_schedule(f"retrain/{name}", last_runs=5)
    by_id = await orchestrator.get_schedule(deployment_id, last_runs=5)
    assert by_name.schedule_id == by_id.schedule_id == deployment_id
    assert by_name.paused is False
    assert by_name.description == "every 3600s (UTC)"
    assert by_name.unschedulable_reason is None
    assert [(r.run_id, r.name, r.state) for r in by_name.runs] == [(run_id, "manual-retrain", "scheduled")]


async def test_pause_plans_applies_is_idempotent_and_undoes(
    orchestrator: TrainingOrchestrator, prefect_server: PrefectServer
) -> None:
    name = unique("churn")
    deployment_id = prefect_server.create_deployment(name)
    instances = {"prefect": orchestrator}
    pause, resume = PauseScheduleAction(instances), ResumeScheduleAction(instances)
    params = ScheduleParams(schedule=f"retrain/{name}")

    plan = await pause.plan(params, CTX)
    assert plan.summary == f"schedule retrain/{name}: active → paused"
    assert prefect_server.is_paused(deployment_id) is False

    result = await pause.apply(params, CTX)
    assert (result.before, result.after) == ({"paused": False}, {"paused": True})
    assert prefect_server.is_paused(deployment_id) is True

    again = await pause.apply(params, CTX)
    assert (again.before, again.after, again.changed) == ({"paused": True}, {"paused": True}, False)

    undo = pause.inverse(params, result.before)
    assert undo is not None
    assert undo.action == resume.name
    restored = await resume.apply(resume.parse(undo.params), CTX)
    assert restored.after == {"paused": False}
    assert prefect_server.is_paused(deployment_id) is False


async def test_undo_keeps_an_already_paused_deployment_paused(
    orchestrator: TrainingOrchestrator, prefect_server: PrefectServer
) -> None:
    deployment_id = prefect_server.create_deployment(unique("paused"), paused=True)
    pause = PauseScheduleAction({"prefect": orchestrator})
    params = ScheduleParams(schedule=deployment_id)
    result = await pause.apply(params, CTX)
    assert not result.changed
    undo = pause.inverse(params, result.before)
    assert undo is not None
    await pause.apply(pause.parse(undo.params), CTX)
    assert prefect_server.is_paused(deployment_id) is True


async def test_unknown_deployment_is_not_found(orchestrator: TrainingOrchestrator) -> None:
    pause = PauseScheduleAction({"prefect": orchestrator})
    for reference in ("retrain/no-such-deployment", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(RejectedIntegrationError, match="not found") as info:
            await pause.apply(ScheduleParams(schedule=reference), CTX)
        assert info.value.status == 404
    with pytest.raises(InputError, match="not a Prefect deployment reference"):
        await pause.plan(ScheduleParams(schedule="no-slash"), CTX)


async def test_resuming_a_deployment_without_schedule_is_refused(
    orchestrator: TrainingOrchestrator, prefect_server: PrefectServer
) -> None:
    deployment_id = prefect_server.create_deployment(unique("manual"), paused=True, schedules=[])
    resume = ResumeScheduleAction({"prefect": orchestrator})
    params = ScheduleParams(schedule=deployment_id)
    assert "apply will refuse" in (await resume.plan(params, CTX)).summary
    with pytest.raises(RejectedIntegrationError, match="has no schedule"):
        await resume.apply(params, CTX)
    assert prefect_server.is_paused(deployment_id) is True
