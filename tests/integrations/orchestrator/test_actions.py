from __future__ import annotations

import httpx
import pytest

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.orchestrator.actions import (
    PauseScheduleAction,
    ResumeScheduleAction,
    ScheduleParams,
    register_actions,
)
from integrations.orchestrator.build import build_instance
from integrations.orchestrator.config import AirflowConfig, PrefectConfig
from integrations.orchestrator.protocol import TrainingOrchestrator
from tests.integrations.orchestrator.fakes import FakeAirflow, FakePrefect, airflow_dag

CTX = ActionContext(incident_ref="INC-3", step_id="pause")
PARAMS = ScheduleParams(schedule="retrain-fraud")
SECRET_ENV = "AIRFLOW_TEST_SECRET"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    monkeypatch.setenv(SECRET_ENV, "pw")
    return FakeAirflow()


def airflow(fake: FakeAirflow) -> dict[str, TrainingOrchestrator]:
    config = AirflowConfig.model_validate(
        {
            "kind": "airflow",
            "url": "http://airflow.test:8080",
            "auth": {"type": "basic", "username": "bot", "password": {"env": SECRET_ENV}},
            "http": {"retries": 0},
        }
    )
    return {"airflow": build_instance("airflow", config, transport=httpx.MockTransport(fake))}


def test_register_actions_adds_pause_and_resume(fake: FakeAirflow) -> None:
    registry = ActionRegistry()
    register_actions(registry, airflow(fake))
    assert registry.names() == ["orchestrator.pause_schedule", "orchestrator.resume_schedule"]
    assert all(action.mutating for action in registry)


async def test_plan_shows_the_change_and_the_last_runs(fake: FakeAirflow) -> None:
    plan = await PauseScheduleAction(airflow(fake)).plan(PARAMS, CTX)
    assert plan.summary == "schedule retrain-fraud: active → paused"
    assert (plan.current, plan.intended) == ({"paused": False}, {"paused": True})
    assert plan.changes
    assert plan.target == "orchestrator:airflow/retrain-fraud"
    assert plan.details["description"] == "Every hour"
    assert [run["run_id"] for run in plan.details["last_runs"]] == [
        "scheduled__2026-11-30T14:00:00+00:00",
        "manual-1",
    ]
    assert fake.dags["retrain-fraud"]["is_paused"] is False  # plan is read-only
    assert not [r for r in fake.requests if r.method == "PATCH"]


async def test_pause_applies_is_idempotent_and_undoes(fake: FakeAirflow) -> None:
    pause = PauseScheduleAction(airflow(fake))
    first = await pause.apply(PARAMS, CTX)
    assert (first.before, first.after, first.changed) == ({"paused": False}, {"paused": True}, True)
    assert first.summary == "schedule retrain-fraud: active → paused"
    assert fake.dags["retrain-fraud"]["is_paused"] is True

    patches = len([r for r in fake.requests if r.method == "PATCH"])
    again = await pause.apply(PARAMS, CTX)
    assert (again.before, again.after, again.changed) == ({"paused": True}, {"paused": True}, False)
    assert again.summary == "schedule retrain-fraud: already paused"
    assert len([r for r in fake.requests if r.method == "PATCH"]) == patches

    undo = pause.inverse(PARAMS, first.before)
    assert undo == Invocation(
        "orchestrator.resume_schedule", {"schedule": "retrain-fraud", "instance": "airflow"}
    )
    resume = ResumeScheduleAction(airflow(fake))
    restored = await resume.apply(resume.parse(undo.params), CTX)
    assert restored.after == {"paused": False}
    assert fake.dags["retrain-fraud"]["is_paused"] is False


async def test_undo_of_a_pause_on_an_already_paused_schedule_keeps_it_paused(
    fake: FakeAirflow,
) -> None:
    fake.dags["retrain-fraud"]["is_paused"] = True
    pause = PauseScheduleAction(airflow(fake))
    result = await pause.apply(PARAMS, CTX)
    undo = pause.inverse(PARAMS, result.before)
    assert undo is not None
    assert undo.action == "orchestrator.pause_schedule"
    resume = ResumeScheduleAction(airflow(fake))
    assert resume.inverse(PARAMS, {"paused": False}) == Invocation(
        "orchestrator.resume_schedule", {"schedule": "retrain-fraud", "instance": "airflow"}
    )


def test_inverse_needs_the_recorded_flag(fake: FakeAirflow) -> None:
    with pytest.raises(InputError, match="no paused flag"):
        PauseScheduleAction(airflow(fake)).inverse(PARAMS, {})


async def test_resuming_a_stale_dag_is_refused_but_pausing_it_works(fake: FakeAirflow) -> None:
    fake.dags["retrain-fraud"] = airflow_dag("retrain-fraud", paused=True, stale=True)
    resume = ResumeScheduleAction(airflow(fake))
    plan = await resume.plan(PARAMS, CTX)
    assert plan.summary.startswith("schedule retrain-fraud: paused → active (apply will refuse:")
    with pytest.raises(RejectedIntegrationError, match="refusing to resume") as info:
        await resume.apply(PARAMS, CTX)
    assert info.value.context["reason"] == "conflict"
    assert fake.dags["retrain-fraud"]["is_paused"] is True
    fake.dags["retrain-fraud"]["is_paused"] = False
    result = await PauseScheduleAction(airflow(fake)).apply(PARAMS, CTX)
    assert result.after == {"paused": True}


async def test_a_flag_that_does_not_read_back_is_a_conflict(fake: FakeAirflow) -> None:
    fake.ignore_writes = True
    with pytest.raises(RejectedIntegrationError, match="still reads active") as info:
        await PauseScheduleAction(airflow(fake)).apply(PARAMS, CTX)
    assert info.value.hint == "someone or something changed it meanwhile; plan again"


async def test_unknown_schedule_fails_in_plan_and_apply(fake: FakeAirflow) -> None:
    action = PauseScheduleAction(airflow(fake))
    params = ScheduleParams(schedule="retrain-nope")
    for call in (action.plan, action.apply):
        with pytest.raises(RejectedIntegrationError, match="DAG 'retrain-nope' not found"):
            await call(params, CTX)


async def test_actions_work_the_same_over_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePrefect()
    config = PrefectConfig.model_validate(
        {"kind": "prefect", "url": "http://prefect.test:4200/api", "http": {"retries": 0}}
    )
    instances = {"prefect": build_instance("prefect", config, transport=httpx.MockTransport(fake))}
    params = ScheduleParams(schedule="retrain/fraud")
    result = await PauseScheduleAction(instances).apply(params, CTX)
    assert (result.before, result.after) == ({"paused": False}, {"paused": True})
    assert result.details["kind"] == "prefect"
    assert result.details["last_runs"][0]["name"] == "manual-1"
    fake.deployment["schedules"] = []
    with pytest.raises(RejectedIntegrationError, match="has no schedule"):
        await ResumeScheduleAction(instances).apply(params, CTX)


async def test_instance_must_be_named_when_several_are_configured(fake: FakeAirflow) -> None:
    instances = {**airflow(fake), "other": airflow(FakeAirflow())["airflow"]}
    action = PauseScheduleAction(instances)
    with pytest.raises(InputError, match="several orchestrators instances"):
        await action.plan(PARAMS, CTX)
    plan = await action.plan(ScheduleParams(schedule="retrain-fraud", instance="airflow"), CTX)
    assert plan.target == "orchestrator:airflow/retrain-fraud"


def test_params_reject_unknown_keys_and_bounds() -> None:
    with pytest.raises(ValueError, match="extra"):
        ScheduleParams.model_validate({"schedule": "x", "dag": "y"})
    with pytest.raises(ValueError, match="last_runs"):
        ScheduleParams.model_validate({"schedule": "x", "last_runs": 500})
    with pytest.raises(ValueError, match="schedule"):
        ScheduleParams.model_validate({"schedule": ""})
