"""Test helpers: a Prometheus query endpoint over MockTransport, and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx

from integrations.http import HttpPolicy
from integrations.metrics.config import PrometheusConfig
from integrations.metrics.prometheus import PrometheusSource

NO_RETRY = HttpPolicy(retries=0)


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [1700000000.5, value]} for labels, value in series],
        },
    }


def scalar(value: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, value]}}


class ScriptedPrometheus:
    """Answers ``/api/v1/query`` with the next body of a script (the last one repeats)."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self._bodies: Iterator[dict[str, Any]] = iter(bodies)
        self._last: dict[str, Any] = bodies[-1] if bodies else vector()
        self.queries: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        self.queries.append(request.url.params["query"])
        self._last = next(self._bodies, self._last)
        return httpx.Response(200, json=self._last)


def source(
    handler: Callable[[httpx.Request], httpx.Response], name: str = "prom", **config: Any
) -> PrometheusSource:
    cfg = PrometheusConfig.model_validate(
        {"kind": "prometheus", "url": "http://prom.test:9090", "http": NO_RETRY, **config}
    )
    return PrometheusSource.from_config(name, cfg, transport=httpx.MockTransport(handler))


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
