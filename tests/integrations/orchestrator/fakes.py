"""Wire-level fakes of the Airflow and Prefect REST APIs for unit tests (MockTransport).

They answer what the real servers answer for the calls the clients make (shapes checked
against Airflow 3.3, Airflow 2.11 and Prefect 3.9 in the system tests), and record every request.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

DEPLOYMENT_ID = "a0a2ce9b-8123-4fdb-a4ff-68ef3fbec489"


def jwt(exp: float, subject: str = "bot") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS512'})}.{part({'sub': subject, 'exp': int(exp)})}.c2ln"


def airflow_dag(
    dag_id: str, *, paused: bool = False, stale: bool = False, version: int = 2
) -> dict[str, Any]:
    if version == 1:
        return {
            "dag_id": dag_id,
            "is_paused": paused,
            "is_active": not stale,
            "schedule_interval": {"__type": "CronExpression", "value": "0 * * * *"},
            "next_dagrun": "2026-11-30T16:00:00+00:00",
        }
    return {
        "dag_id": dag_id,
        "is_paused": paused,
        "is_stale": stale,
        "timetable_summary": "0 * * * *",
        "timetable_description": "Every hour",
        "next_dagrun_run_after": "2026-11-30T16:00:00Z",
    }


class FakeAirflow:
    """Airflow 3 (``version=2``: JWT from /auth/token) or Airflow 2 (``version=1``: basic)."""

    def __init__(
        self,
        *,
        version: int = 2,
        users: dict[str, str] | None = None,
        token_ttl_s: float = 86400,
        now: float = 1_800_000_000,
    ) -> None:
        self.version = version
        self.users = users if users is not None else {"bot": "pw"}
        self.token_ttl_s = token_ttl_s
        self.now = now
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[httpx.Request] = []
        self.dags = {"retrain-fraud": airflow_dag("retrain-fraud", version=version)}
        self.runs: list[dict[str, Any]] = [
            {
                "dag_run_id": "scheduled__2026-11-30T14:00:00+00:00",
                "state": "success",
                "start_date": "2026-11-30T15:00:01Z",
                "end_date": "2026-11-30T15:04:00Z",
                "run_type": "scheduled",
            },
            {"dag_run_id": "manual-1", "state": "queued", "start_date": None, "run_type": "manual"},
        ]
        #: Users whose PATCH is refused (a viewer role).
        self.read_only: set[str] = set()
        #: Airflow 3 answers 403 "Invalid JWT token" to a bad or expired token.
        self.invalid_token_status = 403
        #: When set, PATCH answers 200 but does not change the flag (a racing writer).
        self.ignore_writes = False

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/v2/version":
            if self.version == 2:
                return httpx.Response(200, json={"version": "3.3.2", "git_version": "x"})
            return httpx.Response(404, text="<html>Not Found</html>")
        if path == "/api/v1/version":
            if self.version == 1:
                return httpx.Response(200, json={"version": "2.11.0", "git_version": "x"})
            return httpx.Response(404, json={"error": "/api/v1 has been removed in Airflow 3"})
        if path == "/auth/token" and request.method == "POST":
            return self._token(request)
        prefix = f"/api/v{self.version}"
        if not path.startswith(prefix):
            return httpx.Response(404, json={"detail": "Not Found"})
        user = self._user(request)
        if user is None:
            detail = "Not authenticated" if self.version == 2 else "Unauthorized"
            if "Bearer" in request.headers.get("authorization", ""):
                return httpx.Response(self.invalid_token_status, json={"detail": "Invalid JWT token"})
            return httpx.Response(401, json={"detail": detail})
        return self._api(request, path.removeprefix(prefix), user)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        body = json.loads(request.content)
        if self.users.get(body.get("username")) != body.get("password"):
            return httpx.Response(401, json={"detail": "Invalid credentials"})
        token = jwt(self.now + self.token_ttl_s, body["username"])
        self.valid_tokens.add(token)
        return httpx.Response(201, json={"access_token": token})

    def _user(self, request: httpx.Request) -> str | None:
        header = request.headers.get("authorization", "")
        if self.version == 2 and header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
            if token in self.valid_tokens:
                claims = token.split(".")[1]
                return str(json.loads(base64.urlsafe_b64decode(claims + "==="))["sub"])
            return None
        if self.version == 1 and header.startswith("Basic "):
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            return user if self.users.get(user) == password else None
        return None

    def _api(self, request: httpx.Request, path: str, user: str) -> httpx.Response:
        if path == "/dags":
            return httpx.Response(200, json={"dags": list(self.dags.values())[:1]})
        match = re.fullmatch(r"/dags/([^/]+)(/dagRuns)?", path)
        if match is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        dag = self.dags.get(match.group(1))
        if dag is None:
            return httpx.Response(404, json={"detail": f"Dag with id: {match.group(1)} was not found"})
        if match.group(2):
            limit = int(request.url.params.get("limit", "100"))
            return httpx.Response(200, json={"dag_runs": self.runs[:limit], "total_entries": 2})
        if request.method == "PATCH":
            if user in self.read_only:
                return httpx.Response(403, json={"detail": "Forbidden"})
            if not self.ignore_writes:
                dag["is_paused"] = json.loads(request.content)["is_paused"]
        return httpx.Response(200, json=dag)


def prefect_deployment(*, paused: bool = False, schedules: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": DEPLOYMENT_ID,
        "name": "fraud",
        "flow_id": "ed5aa4f5-79a5-4824-ba3e-4c1b668f5610",
        "paused": paused,
        "schedules": schedules
        if schedules is not None
        else [{"schedule": {"interval": 3600.0, "timezone": "UTC"}, "active": True}],
    }


class FakePrefect:
    """A Prefect 3 server (``legacy=True``: a 2.x server with set_schedule_* routes)."""

    def __init__(self, *, legacy: bool = False, auth_header: str | None = None) -> None:
        self.legacy = legacy
        self.auth_header = auth_header
        self.deployment = prefect_deployment()
        if legacy:  # early 2.x: one schedule and an is_schedule_active flag, no `paused`
            self.deployment = {
                "id": DEPLOYMENT_ID,
                "name": "fraud",
                "schedule": {"cron": "0 * * * *", "timezone": "UTC"},
                "is_schedule_active": True,
            }
        self.requests: list[httpx.Request] = []
        self.runs: list[dict[str, Any]] = [
            {
                "id": "efbf3332-c05a-464e-baf0-c41ec629ffa1",
                "name": "manual-1",
                "state_type": "COMPLETED",
                "start_time": "2026-11-30T15:00:00Z",
                "end_time": "2026-11-30T15:02:00Z",
                "auto_scheduled": False,
            }
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.auth_header and request.headers.get("authorization") != self.auth_header:
            return httpx.Response(401, json={"exception_message": "Unauthorized"})
        path = request.url.path.removeprefix("/api")
        if path == "/admin/version":
            return httpx.Response(200, json="2.19.0" if self.legacy else "3.9.1")
        if path == "/deployments/filter":
            return httpx.Response(200, json=[self.deployment])
        if path == "/flow_runs/filter":
            return httpx.Response(200, json=self.runs)
        if path in (f"/deployments/{DEPLOYMENT_ID}", "/deployments/name/retrain/fraud"):
            return httpx.Response(200, json=self.deployment)
        action = re.fullmatch(rf"/deployments/{DEPLOYMENT_ID}/(\w+)", path)
        route = action.group(1) if action and request.method == "POST" else None
        if self.legacy and route in ("set_schedule_inactive", "set_schedule_active"):
            self.deployment["is_schedule_active"] = route == "set_schedule_active"
            return httpx.Response(204)
        if not self.legacy and route in ("pause_deployment", "resume_deployment"):
            self.deployment["paused"] = route == "pause_deployment"
            return httpx.Response(200, json=None)
        if path.startswith("/deployments/") and not action:
            return httpx.Response(404, json={"detail": "Deployment not found"})
        return httpx.Response(404, json={"detail": "Not Found"})
