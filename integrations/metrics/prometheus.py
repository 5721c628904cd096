"""Prometheus HTTP API (``/api/v1/query``) as a :class:`MetricsSource`.

Wire format (https://prometheus.io/docs/prometheus/latest/querying/api/):
``{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {...},
"value": [<unix ts>, "<value as string>"]}]}, "warnings": [...]}``; a scalar result is
``"result": [<ts>, "<value>"]``. Values are strings so NaN and ±Inf survive JSON.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from integrations.base import CheckResult
from integrations.http import ServiceClient
from integrations.metrics.config import PrometheusConfig
from integrations.metrics.protocol import QueryResult, Sample

_RANGE_HINT = (
    "wait_until and query need an instant vector or a scalar; wrap a range selector in a "
    "function, e.g. avg_over_time(x[5m]) or rate(x[5m])"
)


class PrometheusSource:
    """One configured Prometheus-compatible server."""

    kind = "prometheus"

    def __init__(self, name: str, client: ServiceClient) -> None:
        self.name = name
        self._client = client

    @classmethod
    def from_config(
        cls,
        name: str,
        config: PrometheusConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> PrometheusSource:
        client = ServiceClient(
            kind="Prometheus",
            base_url=str(config.url),
            policy=config.http,
            headers=config.auth.headers(),
            auth=config.auth.httpx_auth(),
            transport=transport,
        )
        return cls(name, client)

    @property
    def url(self) -> str:
        return self._client.base_url

    async def aclose(self) -> None:
        await self._client.aclose()

    async def query(self, expr: str) -> QueryResult:
        call = f"query {expr!r}"
        response = await self._client.request("GET", "/api/v1/query", call=call, params={"query": expr})
        body = self._json(response, call)
        data = body.get("data")
        if body.get("status") != "success" or not isinstance(data, dict):
            raise self._rejected(f"{body.get('errorType', '')} {body.get('error', '')}", call)
        result_type = data.get("resultType")
        result = data.get("result")
        warnings = tuple(str(w) for w in body.get("warnings") or ())
        if result_type == "vector" and isinstance(result, list):
            samples = tuple(self._vector_sample(item, call) for item in result)
            return QueryResult(expr, "vector", samples, warnings)
        if result_type == "scalar" and isinstance(result, list):
            return QueryResult(expr, "scalar", (self._point({}, result, call),), warnings)
        if result_type == "matrix":
            raise self._rejected("the expression returns a range vector", call, _RANGE_HINT)
        raise self._rejected(
            f"result type {result_type!r} is not a number",
            call,
            "the expression must return an instant vector or a scalar",
        )

    async def check(self) -> CheckResult:
        base = CheckResult(name=self.name, kind=self.kind, url=self.url, reachable=False)
        try:
            response = await self._client.request(
                "GET", "/api/v1/status/buildinfo", call="reading build info", ok_statuses=(404,)
            )
            version: str | None = None
            if response.status_code == 404:
                # Thanos and VictoriaMetrics may lack buildinfo: prove the API with a query.
                await self.query("vector(1)")
            else:
                data = self._json(response, "reading build info").get("data")
                version = str(data.get("version")) if isinstance(data, dict) else None
        except RetryableIntegrationError as exc:
            return replace(base, error=str(exc))
        except RejectedIntegrationError as exc:
            denied = exc.status in (401, 403)
            return replace(base, reachable=True, authenticated=False if denied else None, error=str(exc))
        return replace(base, reachable=True, authenticated=True, version=version)

    def _json(self, response: httpx.Response, call: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._rejected(
                "the answer is not Prometheus API JSON",
                call,
                "check that the URL points at the Prometheus server root (not a UI or proxy page)",
            )
        return body

    def _vector_sample(self, item: Any, call: str) -> Sample:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
            raise self._rejected(f"malformed vector sample {item!r:.100}", call)
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        return self._point(labels, item.get("value"), call)

    def _point(self, labels: dict[str, str], point: Any, call: str) -> Sample:
        try:
            timestamp, raw = point
            return Sample(labels=labels, value=float(raw), timestamp=float(timestamp))
        except (TypeError, ValueError):
            raise self._rejected(f"malformed sample value {point!r:.100}", call) from None

    def _rejected(self, message: str, call: str, hint: str | None = None) -> Exception:
        system = self._client.system
        return RejectedIntegrationError(
            f"{system}: {message.strip()} on {call}", system=system, call=call, hint=hint
        )
