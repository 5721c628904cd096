"""Prefect as a :class:`TrainingOrchestrator`: pause/resume a deployment's schedule.

Prefect 3 pauses with ``POST /deployments/{id}/pause_deployment`` (which also deletes the
auto-scheduled runs not yet started) and resumes with ``resume_deployment``; Prefect 2
servers had ``set_schedule_inactive``/``set_schedule_active``, used when the newer route
is missing. Runs come from ``POST /flow_runs/filter``. A deployment is named by its UUID or
``flow-name/deployment-name``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import CheckResult
from integrations.http import ServiceClient
from integrations.orchestrator.common import (
    Credentials,
    json_object,
    parse_time,
    probe_instance,
    rejected,
)
from integrations.orchestrator.config import PrefectConfig
from integrations.orchestrator.protocol import RunInfo, ScheduleState

_ROUTES = {
    True: ("pause_deployment", "set_schedule_inactive"),
    False: ("resume_deployment", "set_schedule_active"),
}


class PrefectOrchestrator:
    """One configured Prefect server or Prefect Cloud workspace."""

    kind = "prefect"

    def __init__(self, name: str, client: ServiceClient) -> None:
        self.name = name
        self._client = client

    @classmethod
    def from_config(
        cls,
        name: str,
        config: PrefectConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> PrefectOrchestrator:
        credentials = Credentials.from_config(config.auth)
        client = ServiceClient(
            kind="Prefect",
            base_url=str(config.url),
            policy=config.http,
            headers=credentials.basic_header() or credentials.bearer_header(),
            transport=transport,
        )
        return cls(name, client)

    @property
    def url(self) -> str:
        return self._client.base_url

    @property
    def system(self) -> str:
        return self._client.system

    async def aclose(self) -> None:
        await self._client.aclose()

    async def check(self) -> CheckResult:
        async def probe() -> str | None:
            # /health answers without credentials; a deployment query proves them.
            await self._client.request(
                "POST",
                "/deployments/filter",
                call="listing deployments",
                idempotent=True,
                json={"limit": 1},
            )
            response = await self._client.request(
                "GET", "/admin/version", call="reading the version", ok_statuses=(404,)
            )
            try:
                version = response.json() if response.status_code == 200 else None
            except ValueError:
                version = None
            return str(version) if isinstance(version, str) and version else None

        return await probe_instance(self.name, self.kind, self.url, probe)

    async def get_schedule(self, schedule: str, *, last_runs: int = 5) -> ScheduleState:
        deployment = await self._read_deployment(schedule)
        deployment_id = str(deployment["id"])
        schedules = _schedules(deployment)
        active = [s for s in schedules if s.get("active", True)]
        if not schedules:
            reason: str | None = "the deployment has no schedule: resuming it starts no runs"
        elif not active:
            reason = "all schedules of the deployment are inactive: resuming it starts no runs"
        else:
            reason = None
        if "paused" in deployment:
            paused = bool(deployment["paused"])
        else:
            paused = not deployment.get("is_schedule_active", True)
        runs = await self._read_runs(schedule, deployment_id, last_runs) if last_runs > 0 else ()
        return ScheduleState(
            schedule=schedule,
            schedule_id=deployment_id,
            paused=paused,
            description="; ".join(_describe(s.get("schedule")) for s in active) or None,
            unschedulable_reason=reason,
            runs=runs,
        )

    async def set_paused(self, schedule: str, paused: bool) -> None:
        deployment_id = str((await self._read_deployment(schedule))["id"])
        verb = "pausing" if paused else "resuming"
        call = f"{verb} deployment {schedule!r}"
        for route in _ROUTES[paused]:
            response = await self._client.request(
                "POST",
                f"/deployments/{deployment_id}/{route}",
                call=call,
                idempotent=True,
                ok_statuses=(404,),
            )
            if response.status_code != 404:
                return
        # The deployment was there a moment ago: it was deleted, or the route is unknown.
        raise self._not_found(schedule, call)

    async def _read_deployment(self, schedule: str) -> dict[str, Any]:
        call = f"reading deployment {schedule!r}"
        if _is_uuid(schedule):
            path = f"/deployments/{schedule}"
        elif schedule.count("/") == 1 and all(schedule.split("/")):
            flow, name = schedule.split("/")
            path = f"/deployments/name/{quote(flow, safe='')}/{quote(name, safe='')}"
        else:
            raise InputError(
                f"{schedule!r} is not a Prefect deployment reference",
                hint="give the deployment's id or flow-name/deployment-name",
            )
        response = await self._client.request("GET", path, call=call, ok_statuses=(404,))
        if response.status_code == 404:
            raise self._not_found(schedule, call)
        body = json_object(self.system, response, call)
        if "id" not in body:
            raise rejected(
                self.system,
                "the answer has no deployment id",
                call=call,
                hint="check that the URL is the Prefect API URL (ending in /api)",
            )
        return body

    async def _read_runs(self, schedule: str, deployment_id: str, limit: int) -> tuple[RunInfo, ...]:
        call = f"listing flow runs of deployment {schedule!r}"
        # Runs expected to start by now: future auto-scheduled runs are not "last runs".
        now = datetime.now(UTC).isoformat()
        response = await self._client.request(
            "POST",
            "/flow_runs/filter",
            call=call,
            idempotent=True,
            json={
                "deployments": {"id": {"any_": [deployment_id]}},
                "flow_runs": {"expected_start_time": {"before_": now}},
                "sort": "EXPECTED_START_TIME_DESC",
                "limit": limit,
            },
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, list):
            raise rejected(
                self.system,
                "the flow-run filter did not answer a list",
                call=call,
                hint="check that the URL is the Prefect API URL (ending in /api)",
            )
        return tuple(_run(run) for run in body if isinstance(run, dict))

    def _not_found(self, schedule: str, call: str) -> RejectedIntegrationError:
        return rejected(
            self.system,
            f"deployment {schedule!r} not found",
            call=call,
            status=404,
            hint="check the deployment id or flow-name/deployment-name, and that the URL "
            "is the API URL (ending in /api)",
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _schedules(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Prefect 3 (and late 2.x) list ``schedules``; early 2.x had one ``schedule``."""
    schedules = deployment.get("schedules")
    if isinstance(schedules, list):
        return [s for s in schedules if isinstance(s, dict)]
    legacy = deployment.get("schedule")
    if isinstance(legacy, dict):
        return [{"schedule": legacy, "active": deployment.get("is_schedule_active", True)}]
    return []


def _describe(schedule: Any) -> str:
    if not isinstance(schedule, dict):
        return "unknown schedule"
    tz = f" ({schedule['timezone']})" if schedule.get("timezone") else ""
    if "cron" in schedule:
        return f"cron {schedule['cron']}{tz}"
    if "interval" in schedule:
        return f"every {float(schedule['interval']):g}s{tz}"
    if "rrule" in schedule:
        return f"rrule {schedule['rrule']}{tz}"
    return "unknown schedule"


def _run(run: dict[str, Any]) -> RunInfo:
    state = run.get("state_type") or (run.get("state") or {}).get("type") or "unknown"
    return RunInfo(
        run_id=str(run.get("id")),
        state=str(state).lower(),
        start=parse_time(run.get("start_time")),
        end=parse_time(run.get("end_time")),
        run_type="scheduled" if run.get("auto_scheduled") else None,
        name=run.get("name"),
    )
