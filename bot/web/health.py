"""Health and metrics endpoints (no token needed)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import col, func, select

from bot.errors import UnavailableError
from bot.incident.domain import Severity, Status
from bot.incident.models import Incident
from bot.web.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable")
async def readyz(runtime: RuntimeDep) -> dict[str, str]:
    try:
        await runtime.db.ping()
    except UnavailableError:
        raise
    except Exception as exc:
        raise UnavailableError("the database is unreachable", error=type(exc).__name__) from exc
    return {"status": "ready", "database": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    async with runtime.db.session() as session:
        rows = (
            await session.exec(
                select(Incident.status, Incident.severity, func.count(col(Incident.id))).group_by(
                    col(Incident.status), col(Incident.severity)
                )
            )
        ).all()
    counts = {(status, severity): n for status, severity, n in rows}
    for status in Status:
        for severity in Severity:
            runtime.metrics.incidents.labels(status.value, severity.value).set(
                counts.get((status.value, severity.value), 0)
            )
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _route_template(request: Request) -> str:
    """The matched route's template (bounded label values), set by the router in the scope."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install_request_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            runtime = request.app.state.runtime
            route = _route_template(request)
            runtime.metrics.requests.labels(request.method, route, str(status)).inc()
            runtime.metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
