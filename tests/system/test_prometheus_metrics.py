"""The metrics kind against a real Prometheus scraping an exporter the test drives."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from pydantic import TypeAdapter

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from integrations.base import ActionContext
from integrations.metrics.actions import QueryAction, QueryParams, WaitUntilAction, WaitUntilParams
from integrations.metrics.build import build_instance
from integrations.metrics.config import MetricsConfig
from integrations.metrics.protocol import ConditionNotMetError, MetricsSource
from tests.system.fixtures.prometheus import (
    GAUGE_NAME,
    PROM_PASSWORD,
    PROM_USER,
    PrometheusServer,
)
from tests.system.servers import free_port

pytestmark = pytest.mark.system

CTX = ActionContext(incident_ref="INC-7", step_id="verify")
EXPR = f'{GAUGE_NAME}{{service="api"}}'


def make_source(url: str, env_var: str = "PROM_TEST_SECRET") -> MetricsSource:
    config = TypeAdapter(MetricsConfig).validate_python(
        {
            "kind": "prometheus",
            "url": url,
            "auth": {"type": "basic", "username": PROM_USER, "password": {"env": env_var}},
            "http": {"retries": 0, "connect_timeout_s": 2, "read_timeout_s": 5},
        }
    )
    return build_instance("prom", config)


@pytest.fixture
async def prom(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MetricsSource]:
    monkeypatch.setenv("PROM_TEST_SECRET", PROM_PASSWORD)
    source = make_source(prometheus_server.url)
    yield source
    await source.aclose()


async def wait_for_value(source: MetricsSource, expected: float, timeout_s: float = 15) -> None:
    """Let Prometheus scrape a value the test just set (set-up, not the code under test)."""
    for _ in range(int(timeout_s / 0.2)):
        result = await source.query(EXPR)
        if result.samples and result.samples[0].value == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {expected}")


async def test_check_reports_version_and_authentication(prom: MetricsSource) -> None:
    result = await prom.check()
    assert result.ok, result.error
    assert result.version is not None
    assert result.version.startswith("2.")


async def test_check_with_a_wrong_password_says_unauthenticated(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_WRONG_SECRET", "not-the-password")
    source = make_source(prometheus_server.url, "PROM_WRONG_SECRET")
    result = await source.check()
    await source.aclose()
    assert (result.reachable, result.authenticated) == (True, False)
    assert result.error is not None
    assert "401" in result.error
    assert "not-the-password" not in result.error


async def test_check_of_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TEST_SECRET", PROM_PASSWORD)
    source = make_source(f"http://127.0.0.1:{free_port()}")
    result = await source.check()
    with pytest.raises(RetryableIntegrationError, match="cannot connect"):
        await source.query("up")
    await source.aclose()
    assert (result.reachable, result.ok) == (False, False)


async def test_query_returns_labelled_samples(
    prom: MetricsSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.set(0.25)
    await wait_for_value(prom, 0.25)
    result = await prom.query(f"{GAUGE_NAME}")
    assert result.result_type == "vector"
    (sample,) = [s for s in result.samples if s.labels.get("service") == "api"]
    assert sample.value == 0.25
    assert sample.labels["job"] == "exporter"
    scalar = await prom.query("scalar(sum(up))")
    assert (scalar.result_type, scalar.samples[0].value) == ("scalar", 1.0)


async def test_nan_and_empty_results(prom: MetricsSource) -> None:
    nan = await prom.query("vector(0) / vector(0)")
    assert math.isnan(nan.samples[0].value)
    empty = await prom.query('up{job="no-such-job"}')
    assert empty.empty


async def test_bad_expression_and_range_vector_are_rejected(prom: MetricsSource) -> None:
    with pytest.raises(RejectedIntegrationError, match="parse error") as info:
        await prom.query("sum(")
    assert info.value.status == 400
    with pytest.raises(RejectedIntegrationError, match="range vector"):
        await prom.query(f"{GAUGE_NAME}[1m]")


async def test_query_action_records_the_value(
    prom: MetricsSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.set(0.5)
    await wait_for_value(prom, 0.5)
    result = await QueryAction({"prom": prom}).apply(QueryParams(expr=EXPR), CTX)
    assert result.after["values"][0]["value"] == 0.5
    assert not result.changed
    assert result.summary.endswith("= 0.5")


async def test_wait_until_sees_the_mitigation_take_effect(
    prom: MetricsSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.set(0.3)
    await wait_for_value(prom, 0.3)
    action = WaitUntilAction({"prom": prom})
    params = WaitUntilParams(expr=EXPR, op="<", threshold=0.05, for_s=1, timeout_s=30, interval_s=0.5)
    plan = await action.plan(params, CTX)
    assert plan.current == {"holds": False}
    assert "now 0.3, does not hold yet" in plan.summary

    async def mitigate() -> None:
        await asyncio.sleep(1.0)
        prometheus_server.set(0.01)

    mitigation = asyncio.create_task(mitigate())
    result = await action.apply(params, CTX)
    await mitigation
    assert result.before["holds"] is False
    assert result.before["values"][0]["value"] == 0.3
    assert result.after["holds"] is True
    (after,) = result.after["values"]
    assert after["value"] == 0.01
    assert (after["labels"]["job"], after["labels"]["service"]) == ("exporter", "api")
    assert result.details["waited_s"] >= 1.0
    assert result.details["polls"] >= 3


async def test_wait_until_times_out_with_the_last_value(
    prom: MetricsSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.set(0.4)
    await wait_for_value(prom, 0.4)
    params = WaitUntilParams(expr=EXPR, op="<=", threshold=0.1, timeout_s=1.5, interval_s=0.5)
    with pytest.raises(ConditionNotMetError, match=r"last value: 0\.4") as info:
        await WaitUntilAction({"prom": prom}).apply(params, CTX)
    assert info.value.context["reason"] == "timeout"


async def test_wait_until_on_a_missing_series_fails_as_no_data(prom: MetricsSource) -> None:
    params = WaitUntilParams(expr='up{job="no-such-job"}', op="==", threshold=1, timeout_s=10, interval_s=0.5)
    with pytest.raises(ConditionNotMetError, match="returned no data"):
        await WaitUntilAction({"prom": prom}).apply(params, CTX)
