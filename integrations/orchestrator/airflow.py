"""Apache Airflow as a :class:`TrainingOrchestrator`: pause/unpause a DAG over the REST API.

Airflow 3 serves ``/api/v2``; callers get a JWT with ``POST /auth/token`` (username and
password as JSON) and send it as a bearer token. An expired or revoked JWT answers 401, or
403 "Invalid JWT token", so on either we fetch a new token once and repeat the call.
Airflow 2 serves ``/api/v1`` with HTTP basic auth. Both pause with
``PATCH /dags/{dag_id}?update_mask=is_paused`` and ``{"is_paused": true}``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bot.errors import RejectedIntegrationError
from integrations.base import CheckResult
from integrations.http import ServiceClient
from integrations.orchestrator.common import (
    Credentials,
    json_object,
    parse_time,
    probe_instance,
    rejected,
)
from integrations.orchestrator.config import AirflowConfig
from integrations.orchestrator.protocol import RunInfo, ScheduleState

#: Fetch a new JWT this long before the old one expires (at most a quarter of its life).
_TOKEN_MARGIN_S = 60.0
_STALE = "the DAG is stale (its file is gone or no longer defines it): Airflow will not schedule it"


class AirflowOrchestrator:
    """One configured Airflow (2.x over ``/api/v1`` or 3.x over ``/api/v2``)."""

    kind = "airflow"

    def __init__(
        self,
        name: str,
        client: ServiceClient,
        credentials: Credentials,
        *,
        api_version: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._client = client
        self._credentials = credentials
        self._api_version = api_version
        self._server_version: str | None = None
        self._clock = clock
        self._token: SecretStr | None = None
        self._refresh_at: float | None = None

    @classmethod
    def from_config(
        cls,
        name: str,
        config: AirflowConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> AirflowOrchestrator:
        client = ServiceClient(
            kind="Airflow", base_url=str(config.url), policy=config.http, transport=transport
        )
        credentials = Credentials.from_config(config.auth)
        return cls(name, client, credentials, api_version=config.api_version, clock=clock)

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
            await self._api("GET", "/dags", call="listing DAGs", params={"limit": 1})
            return self._server_version

        return await probe_instance(self.name, self.kind, self.url, probe)

    async def api_version(self) -> int:
        if self._api_version is None:
            self._api_version = await self._detect_api_version()
        return self._api_version

    async def get_schedule(self, schedule: str, *, last_runs: int = 5) -> ScheduleState:
        version = await self.api_version()
        dag = await self._read_dag(schedule)
        stale = dag.get("is_stale") is True if version == 2 else dag.get("is_active") is False
        if version == 2:
            description = dag.get("timetable_description") or dag.get("timetable_summary")
            next_run = dag.get("next_dagrun_run_after") or dag.get("next_dagrun_logical_date")
        else:
            interval = dag.get("schedule_interval")
            description = dag.get("timetable_description") or (
                interval.get("value") if isinstance(interval, dict) else None
            )
            next_run = dag.get("next_dagrun_create_after") or dag.get("next_dagrun")
        runs = await self._read_runs(schedule, version, last_runs) if last_runs > 0 else ()
        return ScheduleState(
            schedule=schedule,
            schedule_id=str(dag.get("dag_id", schedule)),
            paused=bool(dag.get("is_paused")),
            description=str(description) if description else None,
            next_run=parse_time(next_run),
            unschedulable_reason=_STALE if stale else None,
            runs=runs,
        )

    async def set_paused(self, schedule: str, paused: bool) -> None:
        verb = "pausing" if paused else "unpausing"
        response = await self._api(
            "PATCH",
            f"/dags/{_quote(schedule)}",
            call=f"{verb} DAG {schedule!r}",
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
            idempotent=True,
            ok_statuses=(404,),
        )
        if response.status_code == 404:
            raise self._dag_not_found(schedule, f"{verb} DAG {schedule!r}")

    async def _read_dag(self, dag_id: str) -> dict[str, Any]:
        call = f"reading DAG {dag_id!r}"
        response = await self._api("GET", f"/dags/{_quote(dag_id)}", call=call, ok_statuses=(404,))
        if response.status_code == 404:
            raise self._dag_not_found(dag_id, call)
        return json_object(self.system, response, call)

    async def _read_runs(self, dag_id: str, version: int, limit: int) -> tuple[RunInfo, ...]:
        call = f"listing runs of DAG {dag_id!r}"
        order_by = "-run_after" if version == 2 else "-execution_date"
        response = await self._api(
            "GET",
            f"/dags/{_quote(dag_id)}/dagRuns",
            call=call,
            params={"order_by": order_by, "limit": limit},
        )
        body = json_object(self.system, response, call)
        return tuple(
            RunInfo(
                run_id=str(run.get("dag_run_id") or run.get("run_id")),
                state=str(run.get("state") or "unknown").lower(),
                start=parse_time(run.get("start_date")),
                end=parse_time(run.get("end_date")),
                run_type=run.get("run_type"),
            )
            for run in body.get("dag_runs") or ()
            if isinstance(run, dict)
        )

    def _dag_not_found(self, dag_id: str, call: str) -> RejectedIntegrationError:
        return rejected(
            self.system,
            f"DAG {dag_id!r} not found",
            call=call,
            status=404,
            hint="check the DAG id; a new DAG appears once Airflow has parsed its file",
        )

    async def _detect_api_version(self) -> int:
        call = "detecting the REST API version"
        for version in (2, 1):
            response = await self._client.request(
                "GET", f"/api/v{version}/version", call=call, ok_statuses=(401, 403, 404)
            )
            if response.status_code != 404:
                if response.status_code == 200:
                    version_info = json_object(self.system, response, call).get("version")
                    self._server_version = str(version_info) if version_info else None
                return version
        raise rejected(
            self.system,
            "no Airflow REST API under /api/v2 nor /api/v1",
            call=call,
            status=404,
            hint="check the URL (the API server or webserver root, without /api); "
            "set api_version when a proxy hides the version endpoint",
        )

    async def _api(
        self,
        method: str,
        path: str,
        *,
        call: str,
        ok_statuses: tuple[int, ...] = (),
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        version = await self.api_version()

        async def send(headers: dict[str, str]) -> httpx.Response:
            return await self._client.request(
                method,
                f"/api/v{version}{path}",
                call=call,
                ok_statuses=ok_statuses,
                idempotent=idempotent,
                headers=headers,
                **kwargs,
            )

        headers, fresh = await self._auth_headers(version)
        try:
            return await send(headers)
        except RejectedIntegrationError as exc:
            if exc.status not in (401, 403) or fresh or not self._uses_jwt(version):
                raise
        self._token = None
        headers, _ = await self._auth_headers(version)
        return await send(headers)

    def _uses_jwt(self, version: int) -> bool:
        return version == 2 and self._credentials.username is not None

    async def _auth_headers(self, version: int) -> tuple[dict[str, str], bool]:
        """Headers for one call, and whether a new JWT was fetched for it."""
        if not self._uses_jwt(version):
            creds = self._credentials
            return (creds.basic_header() or creds.bearer_header()), False
        fresh = False
        if self._token is None or (self._refresh_at is not None and self._clock() >= self._refresh_at):
            await self._fetch_token()
            fresh = True
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}, fresh

    async def _fetch_token(self) -> None:
        creds = self._credentials
        assert creds.username is not None
        assert creds.password is not None
        call = f"getting a token as user {creds.username!r}"
        response = await self._client.request(
            "POST",
            "/auth/token",
            call=call,
            idempotent=True,
            json={"username": creds.username, "password": creds.password.get_secret_value()},
        )
        body = json_object(self.system, response, call)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise rejected(
                self.system,
                "no access_token in the token answer",
                call=call,
                hint="check that the auth manager issues JWTs at /auth/token",
            )
        self._token = SecretStr(token)
        self._refresh_at = _refresh_time(token, self._clock())


def _quote(dag_id: str) -> str:
    return quote(dag_id, safe="")


def _refresh_time(token: str, now: float) -> float | None:
    """When to fetch the next token, from the ``exp`` claim (read, not verified).

    None when the token carries no expiry: then only a 401/403 replaces it.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float):
        return None
    issued = claims.get("iat")
    lifetime = exp - issued if isinstance(issued, int | float) else exp - now
    return float(exp) - min(_TOKEN_MARGIN_S, max(lifetime, 0) / 4)
