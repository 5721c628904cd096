from __future__ import annotations

import math

import httpx
import pytest

from bot.errors import ConfigError, RejectedIntegrationError, RetryableIntegrationError
from integrations.metrics.build import build_instance
from integrations.metrics.config import PrometheusConfig
from integrations.metrics.protocol import MetricsSource, sample_to_dict
from tests.integrations.metrics.helpers import NO_RETRY, scalar, source, vector


async def test_vector_result_becomes_typed_samples() -> None:
    prom = source(
        lambda r: httpx.Response(
            200,
            json=vector(
                ({"__name__": "up", "job": "api"}, "1"),
                ({"__name__": "up", "job": "db"}, "0"),
            ),
        )
    )
    result = await prom.query("up")
    assert result.result_type == "vector"
    assert [(dict(s.labels), s.value) for s in result.samples] == [
        ({"__name__": "up", "job": "api"}, 1.0),
        ({"__name__": "up", "job": "db"}, 0.0),
    ]
    assert result.samples[0].timestamp == 1700000000.5
    assert result.describe() == 'up{job="api"} = 1, up{job="db"} = 0'


async def test_scalar_result_is_one_sample_without_labels() -> None:
    prom = source(lambda r: httpx.Response(200, json=scalar("0.25")))
    result = await prom.query("scalar(sum(x))")
    assert result.result_type == "scalar"
    assert [(dict(s.labels), s.value) for s in result.samples] == [({}, 0.25)]
    assert result.describe() == "0.25"


async def test_nan_and_infinities_stay_floats_and_become_json_safe_strings() -> None:
    prom = source(
        lambda r: httpx.Response(
            200, json=vector(({"a": "1"}, "NaN"), ({"a": "2"}, "+Inf"), ({"a": "3"}, "-Inf"))
        )
    )
    result = await prom.query("x / y")
    values = [s.value for s in result.samples]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]
    assert [sample_to_dict(s)["value"] for s in result.samples] == ["NaN", "+Inf", "-Inf"]
    assert result.describe() == '{a="1"} = NaN, {a="2"} = +Inf, {a="3"} = -Inf'


async def test_empty_result_means_no_data() -> None:
    prom = source(lambda r: httpx.Response(200, json=vector()))
    result = await prom.query('up{job="gone"}')
    assert result.empty
    assert result.describe() == "no data"


async def test_query_is_sent_as_get_parameter() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=vector())

    await source(handler).query('rate(errors_total{job="api"}[5m]) > 0')
    assert seen[0].method == "GET"
    assert seen[0].url.params["query"] == 'rate(errors_total{job="api"}[5m]) > 0'


async def test_range_vector_is_rejected_with_a_hint() -> None:
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"]]}]},
    }
    prom = source(lambda r: httpx.Response(200, json=body))
    with pytest.raises(RejectedIntegrationError, match="range vector") as info:
        await prom.query("up[5m]")
    assert info.value.hint is not None
    assert "avg_over_time" in info.value.hint


async def test_string_result_is_rejected() -> None:
    body = {"status": "success", "data": {"resultType": "string", "result": [1, "hello"]}}
    prom = source(lambda r: httpx.Response(200, json=body))
    with pytest.raises(RejectedIntegrationError, match="'string' is not a number"):
        await prom.query('"hello"')


async def test_bad_expression_names_prometheus_error() -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected"}
    prom = source(lambda r: httpx.Response(400, json=body))
    with pytest.raises(RejectedIntegrationError) as info:
        await prom.query("sum(")
    assert info.value.status == 400
    assert "parse error" in str(info.value)
    assert "Prometheus at http://prom.test:9090" in str(info.value)


async def test_not_a_prometheus_answer_says_to_check_the_url() -> None:
    prom = source(lambda r: httpx.Response(200, text="<html>Grafana</html>"))
    with pytest.raises(RejectedIntegrationError, match="not Prometheus API JSON") as info:
        await prom.query("up")
    assert info.value.hint is not None
    assert "server root" in info.value.hint


async def test_server_error_is_retryable() -> None:
    prom = source(lambda r: httpx.Response(503, json={"status": "error", "error": "overloaded"}))
    with pytest.raises(RetryableIntegrationError, match="503"):
        await prom.query("up")


async def test_bearer_token_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=vector())

    prom = source(handler, auth={"type": "bearer", "token": {"env": "PROM_TOKEN"}})
    await prom.query("up")
    assert seen[0].headers["authorization"] == "Bearer s3cret-token"
    assert "s3cret-token" not in repr(prom)


async def test_basic_auth_password_from_file(tmp_path: object) -> None:
    from pathlib import Path

    secret = Path(str(tmp_path)) / "pw"
    secret.write_text("hunter2\n")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=vector())

    prom = source(handler, auth={"type": "basic", "username": "bot", "password": {"file": str(secret)}})
    await prom.query("up")
    assert seen[0].headers["authorization"] == "Basic Ym90Omh1bnRlcjI="


def test_missing_secret_is_a_config_error_at_build_time() -> None:
    config = PrometheusConfig.model_validate(
        {
            "kind": "prometheus",
            "url": "http://prom.test:9090",
            "auth": {"type": "bearer", "token": {"env": "NO_SUCH_VARIABLE_FOR_TEST"}},
        }
    )
    with pytest.raises(ConfigError, match="NO_SUCH_VARIABLE_FOR_TEST"):
        build_instance("prom", config)


def test_config_rejects_unknown_keys_and_kinds() -> None:
    with pytest.raises(ValueError, match="extra"):
        PrometheusConfig.model_validate({"kind": "prometheus", "url": "http://x", "tokn": "y"})
    with pytest.raises(ValueError, match="prometheus"):
        PrometheusConfig.model_validate({"kind": "graphite", "url": "http://x"})


async def test_build_instance_returns_a_metrics_source() -> None:
    config = PrometheusConfig(kind="prometheus", url="http://prom.test:9090", http=NO_RETRY)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=scalar("1")))
    instance = build_instance("prom", config, transport=transport)
    assert isinstance(instance, MetricsSource)
    assert (instance.name, instance.kind) == ("prom", "prometheus")
    assert (await instance.query("1")).samples[0].value == 1.0
    await instance.aclose()


async def test_check_reports_version() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/status/buildinfo"
        return httpx.Response(200, json={"status": "success", "data": {"version": "2.42.0"}})

    result = await source(handler).check()
    assert result.ok
    assert result.version == "2.42.0"
    assert result.url == "http://prom.test:9090"


async def test_check_without_buildinfo_proves_the_api_with_a_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/status/buildinfo":
            return httpx.Response(404, text="not found")
        return httpx.Response(200, json=vector(({}, "1")))

    result = await source(handler).check()
    assert result.ok
    assert result.version is None


async def test_check_reports_unauthorized() -> None:
    prom = source(lambda r: httpx.Response(401, text="Unauthorized"))
    result = await prom.check()
    assert (result.reachable, result.authenticated, result.ok) == (True, False, False)
    assert result.error is not None
    assert "401" in result.error


async def test_check_reports_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await source(refuse).check()
    assert (result.reachable, result.ok) == (False, False)
    assert result.error is not None
    assert "cannot connect" in result.error
