"""Canned MLflow REST answers for unit tests (the production client runs on MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


def version_json(
    version: str, *, status: str = "READY", tags: dict[str, str] | None = None,
    run_id: str = "", aliases: list[str] | None = None, name: str = "fraud",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "version": version,
        "creation_timestamp": 1_700_000_000_000 + int(version) * 1000,
        "last_updated_timestamp": 1_700_000_000_000,
        "current_stage": "None",
        "source": f"s3://dummy/{version}",
        "run_id": run_id,
        "status": status,
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }
    if aliases is not None:
        body["aliases"] = aliases
    return body


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: httpx.Headers


@dataclass
class FakeMlflow:
    """Routes ``(method, path)`` to a canned response; records every request."""

    routes: dict[tuple[str, str], Handler | list[httpx.Response] | httpx.Response] = field(
        default_factory=dict
    )
    requests: list[Recorded] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append(Recorded(
            request.method, request.url.path, dict(request.url.params), body, request.headers
        ))
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"error_code": "ENDPOINT_NOT_FOUND"})
        if isinstance(route, list):
            return route.pop(0)
        if isinstance(route, httpx.Response):
            return route
        return route(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]
