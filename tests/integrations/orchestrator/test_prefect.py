from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.errors import InputError, RejectedIntegrationError
from integrations.orchestrator.build import build_instance
from integrations.orchestrator.config import PrefectConfig
from integrations.orchestrator.prefect import PrefectOrchestrator
from integrations.orchestrator.protocol import TrainingOrchestrator
from tests.integrations.orchestrator.fakes import DEPLOYMENT_ID, FakePrefect

URL = "http://prefect.test:4200/api"


def prefect(fake: FakePrefect, **config: Any) -> TrainingOrchestrator:
    cfg = PrefectConfig.model_validate({"kind": "prefect", "url": URL, "http": {"retries": 0}, **config})
    return build_instance("prefect", cfg, transport=httpx.MockTransport(fake))


async def test_reads_a_deployment_by_flow_and_name() -> None:
    fake = FakePrefect()
    state = await prefect(fake).get_schedule("retrain/fraud", last_runs=3)
    assert state.paused is False
    assert state.schedule_id == DEPLOYMENT_ID
    assert state.description == "every 3600s (UTC)"
    assert state.unschedulable_reason is None
    (run,) = state.runs
    assert (run.name, run.state, run.run_id) == ("manual-1", "completed", fake.runs[0]["id"])
    assert run.end == datetime(2026, 11, 30, 15, 2, tzinfo=UTC)
    assert fake.requests[0].url.path == "/api/deployments/name/retrain/fraud"


async def test_last_runs_are_filtered_by_deployment_up_to_now_newest_first() -> None:
    fake = FakePrefect()
    await prefect(fake).get_schedule(DEPLOYMENT_ID, last_runs=4)
    assert fake.requests[0].url.path == f"/api/deployments/{DEPLOYMENT_ID}"
    body = json.loads(fake.requests[1].content)
    assert body["deployments"] == {"id": {"any_": [DEPLOYMENT_ID]}}
    assert body["sort"] == "EXPECTED_START_TIME_DESC"
    assert body["limit"] == 4
    before = datetime.fromisoformat(body["flow_runs"]["expected_start_time"]["before_"])
    assert abs(datetime.now(UTC) - before) < timedelta(minutes=1)


async def test_zero_last_runs_skips_the_run_query() -> None:
    fake = FakePrefect()
    state = await prefect(fake).get_schedule(DEPLOYMENT_ID, last_runs=0)
    assert state.runs == ()
    assert len(fake.requests) == 1


@pytest.mark.parametrize("reference", ["fraud", "a/b/c", "/fraud", "retrain/"])
async def test_a_reference_that_is_neither_id_nor_flow_slash_name_is_an_input_error(
    reference: str,
) -> None:
    with pytest.raises(InputError, match="not a Prefect deployment reference"):
        await prefect(FakePrefect()).get_schedule(reference)


async def test_unknown_deployment_is_not_found() -> None:
    orchestrator = prefect(FakePrefect())
    for reference in ("retrain/nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(RejectedIntegrationError, match="not found") as info:
            await orchestrator.get_schedule(reference)
        assert info.value.status == 404
        assert info.value.hint is not None
        assert "ending in /api" in info.value.hint


async def test_pause_and_resume_use_the_prefect_3_routes() -> None:
    fake = FakePrefect()
    orchestrator = prefect(fake)
    await orchestrator.set_paused("retrain/fraud", True)
    assert fake.requests[-1].url.path == f"/api/deployments/{DEPLOYMENT_ID}/pause_deployment"
    assert fake.deployment["paused"] is True
    await orchestrator.set_paused("retrain/fraud", False)
    assert fake.requests[-1].url.path == f"/api/deployments/{DEPLOYMENT_ID}/resume_deployment"
    assert fake.deployment["paused"] is False


async def test_older_servers_fall_back_to_set_schedule_routes() -> None:
    fake = FakePrefect(legacy=True)
    orchestrator = prefect(fake)
    state = await orchestrator.get_schedule("retrain/fraud", last_runs=0)
    assert (state.paused, state.description) == (False, "cron 0 * * * * (UTC)")
    await orchestrator.set_paused("retrain/fraud", True)
    assert [r.url.path.rsplit("/", 1)[-1] for r in fake.requests[-2:]] == [
        "pause_deployment",
        "set_schedule_inactive",
    ]
    assert (await orchestrator.get_schedule("retrain/fraud", last_runs=0)).paused is True


@pytest.mark.parametrize(
    ("schedules", "reason"),
    [([], "has no schedule"), ([{"schedule": {"cron": "0 * * * *"}, "active": False}], "inactive")],
)
async def test_deployment_without_an_active_schedule_cannot_be_resumed_usefully(
    schedules: list[dict[str, Any]], reason: str
) -> None:
    fake = FakePrefect()
    fake.deployment["schedules"] = schedules
    state = await prefect(fake).get_schedule("retrain/fraud", last_runs=0)
    assert state.unschedulable_reason is not None
    assert reason in state.unschedulable_reason
    assert state.description is None


async def test_api_key_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_KEY_FOR_TEST", "pnu_secret")
    fake = FakePrefect(auth_header="Bearer pnu_secret")
    orchestrator = prefect(fake, auth={"type": "bearer", "token": {"env": "PREFECT_API_KEY_FOR_TEST"}})
    assert (await orchestrator.get_schedule("retrain/fraud")).paused is False


async def test_wrong_credentials_are_unauthorized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_AUTH_FOR_TEST", "wrong")
    fake = FakePrefect(auth_header="Basic YWRtaW46cmlnaHQ=")
    orchestrator = prefect(
        fake,
        auth={"type": "basic", "username": "admin", "password": {"env": "PREFECT_AUTH_FOR_TEST"}},
    )
    with pytest.raises(RejectedIntegrationError) as info:
        await orchestrator.get_schedule("retrain/fraud")
    assert info.value.status == 401
    assert info.value.hint == "check the credentials configured for this instance"
    result = await orchestrator.check()
    assert (result.reachable, result.authenticated) == (True, False)


async def test_check_reports_the_server_version() -> None:
    result = await prefect(FakePrefect()).check()
    assert (result.ok, result.version, result.kind, result.url) == (True, "3.9.1", "prefect", URL)


async def test_a_non_api_url_is_reported() -> None:
    def ui(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Prefect UI</html>")

    orchestrator = PrefectOrchestrator.from_config(
        "prefect",
        PrefectConfig.model_validate({"kind": "prefect", "url": "http://prefect.test:4200"}),
        transport=httpx.MockTransport(ui),
    )
    with pytest.raises(RejectedIntegrationError, match="unexpected answer") as info:
        await orchestrator.get_schedule(DEPLOYMENT_ID)
    assert info.value.hint is not None
    assert "API" in info.value.hint
