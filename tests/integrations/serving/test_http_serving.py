"""The generic HTTP serving adapter against small real HTTP services started here: an
in-house router (JSON route, API-key header) and an Unleash-style admin API (on/off flag)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.errors import ConfigError, InputError, IntegrationError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry
from integrations.serving.actions import register_actions
from integrations.serving.build import build_instance
from integrations.serving.config import HttpServingConfig
from integrations.serving.http_serving import HttpServing
from tests.fakes.kube_api import serve_asgi

CTX = ActionContext()
API_KEY = "router-key-42"
UNLEASH_TOKEN = "user:abc123"


@dataclass
class Router:
    """An in-house model router: one route per model, switched with PUT."""

    routes: dict[str, str] = field(default_factory=lambda: {"fraud-detector": "fraud-v2"})
    healthy: bool = True
    ignore_writes: bool = False
    writes: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", lambda request: JSONResponse({"service": "router"})),
                Route("/routes/{model}", self.route, methods=["GET", "PUT"]),
                Route("/health/{model}", self.health),
            ]
        )

    async def route(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"error": "bad api key"}, status_code=401)
        model = request.path_params["model"]
        if model not in self.routes:
            return JSONResponse({"error": f"no route for {model}"}, status_code=404)
        if request.method == "PUT":
            body = await request.json()
            self.writes.append(body)
            if not self.ignore_writes:
                self.routes[model] = body["route"]
        return JSONResponse({"model": model, "target": {"route": self.routes[model]}})

    async def health(self, request: Request) -> Response:
        status = "UP" if self.healthy else "DOWN"
        return JSONResponse({"status": status}, status_code=200 if self.healthy else 503)


@dataclass
class Unleash:
    """The two Unleash admin API calls a kill switch needs."""

    enabled: bool = False

    def app(self) -> Starlette:
        base = "/api/admin/projects/default/features/{feature}"
        return Starlette(
            routes=[
                Route(base, self.feature),
                Route(base + "/environments/production/{state}", self.toggle, methods=["POST"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == UNLEASH_TOKEN

    async def feature(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"message": "You must log in"}, status_code=401)
        return JSONResponse(
            {
                "name": request.path_params["feature"],
                "project": "default",
                "environments": [{"name": "production", "enabled": self.enabled}],
            }
        )

    async def toggle(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"message": "You must log in"}, status_code=401)
        self.enabled = request.path_params["state"] == "on"
        return Response(status_code=200)


def router_config(url: str, **extra: Any) -> HttpServingConfig:
    return HttpServingConfig.model_validate(
        {
            "kind": "http",
            "url": url,
            "secret_headers": {"X-Api-Key": {"env": "ROUTER_API_KEY"}},
            "get_route": {"url": "/routes/{{ model }}", "route_field": "target.route"},
            "set_route": {
                "method": "PUT",
                "url": "/routes/{{ model }}",
                "headers": {"Content-Type": "application/json"},
                "body": '{"route": {{ route | tojson }}, "reason": "incident-bot"}',
            },
            "health": {"url": "/health/{{ model }}", "field": "status", "healthy_values": ["UP"]},
            "fallbacks": {"fraud-detector": {"primary": "fraud-v2", "fallback": "fraud-baseline"}},
            "http": {"retries": 0, "backoff_initial_s": 1},
            **extra,
        }
    )


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def router_url(router: Router) -> Iterator[str]:
    with serve_asgi(router.app()) as url:
        yield url


@pytest.fixture
async def layer(router_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HttpServing]:
    monkeypatch.setenv("ROUTER_API_KEY", API_KEY)
    instance = build_instance("router", router_config(router_url))
    assert isinstance(instance, HttpServing)
    yield instance
    await instance.aclose()


def registry_for(layer: HttpServing) -> ActionRegistry:
    registry = ActionRegistry()
    register_actions(registry, {layer.name: layer})
    return registry


async def test_fallback_through_an_in_house_router(router: Router, layer: HttpServing) -> None:
    registry = registry_for(layer)
    enable = registry.get("serving.enable_fallback")
    params = enable.params_model.model_validate({"model": "fraud-detector"})
    plan = await enable.plan(params, CTX)
    assert plan.summary == "route of fraud-detector on router: fraud-v2 → fraud-baseline"
    assert router.writes == []

    result = await enable.apply(params, CTX)
    assert result.after["mode"] == "fallback"
    assert router.routes["fraud-detector"] == "fraud-baseline"
    assert router.writes == [{"route": "fraud-baseline", "reason": "incident-bot"}]
    assert not (await enable.apply(params, CTX)).changed
    assert len(router.writes) == 1

    undo = enable.inverse(params, result.before)
    assert undo is not None
    disable = registry.get(undo.action)
    restored = await disable.apply(disable.params_model.model_validate(undo.params), CTX)
    assert restored.after == {
        "model": "fraud-detector",
        "mode": "primary",
        "model_uri": "fraud-v2",
        "canary_percent": None,
    }
    assert router.routes["fraud-detector"] == "fraud-v2"


async def test_a_router_that_ignores_the_switch_is_reported(router: Router, layer: HttpServing) -> None:
    router.ignore_writes = True
    with pytest.raises(IntegrationError) as caught:
        await layer.set_fallback("fraud-detector", enabled=True)
    assert "succeeded but get_route still answers fraud-v2 (wanted fraud-baseline)" in str(caught.value)


async def test_health_reads_the_status_field(router: Router, layer: HttpServing) -> None:
    assert (await layer.health("fraud-detector")).healthy
    router.healthy = False
    report = await layer.health("fraud-detector")
    assert not report.healthy
    assert report.summary == "fraud-detector on router: not healthy, HTTP 503"


async def test_wrong_api_key_is_rejected_without_showing_it(
    router_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_API_KEY", "wrong-key-that-must-not-leak")
    layer = build_instance("router", router_config(router_url))
    with pytest.raises(RejectedIntegrationError) as caught:
        await layer.state("fraud-detector")
    check = await layer.check()
    await layer.aclose()
    assert caught.value.status == 401
    assert "bad api key" in caught.value.message
    assert "wrong-key-that-must-not-leak" not in str(caught.value) + repr(layer.__dict__)
    assert check.reachable
    assert check.authenticated is True  # the base URL needs no key


async def test_unknown_model_and_unsupported_operations(layer: HttpServing) -> None:
    with pytest.raises(RejectedIntegrationError, match="404 no route for churn"):
        await layer.state("churn")
    with pytest.raises(InputError, match="no routes are configured for model churn"):
        await layer.plan_fallback("churn", enabled=True)
    rollback = registry_for(layer).get("serving.rollback")
    with pytest.raises(InputError) as caught:
        await rollback.plan(rollback.params_model.model_validate({"model": "fraud-detector"}), CTX)
    assert caught.value.message == "serving instance router (http) does not support rollback"


async def test_route_field_missing_from_the_answer(router_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_API_KEY", API_KEY)
    config = router_config(
        router_url, get_route={"url": "/routes/{{ model }}", "route_field": "target.variant"}
    )
    layer = build_instance("router", config)
    with pytest.raises(IntegrationError, match=r"has no field 'target\.variant'"):
        await layer.state("fraud-detector")
    await layer.aclose()


async def test_unleash_style_flag_as_the_fallback_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unleash = Unleash()
    monkeypatch.setenv("UNLEASH_TOKEN", UNLEASH_TOKEN)
    feature = "/api/admin/projects/default/features/{{ model }}-fallback"
    with serve_asgi(unleash.app()) as url:
        layer = build_instance(
            "flags",
            HttpServingConfig.model_validate(
                {
                    "kind": "http",
                    "url": url,
                    "secret_headers": {"Authorization": {"env": "UNLEASH_TOKEN"}},
                    "get_route": {"url": feature, "route_field": "environments.0.enabled"},
                    "set_route": {
                        "method": "POST",
                        "url": feature + "/environments/production/{{ 'on' if route else 'off' }}",
                    },
                    "fallbacks": {"fraud-detector": {"primary": False, "fallback": True}},
                    "http": {"retries": 0, "backoff_initial_s": 1},
                }
            ),
        )
        on = await layer.set_fallback("fraud-detector", enabled=True)
        assert unleash.enabled is True
        assert on.after.mode == "fallback"
        assert on.after.model_uri == "true"
        off = await layer.set_fallback("fraud-detector", enabled=False)
        await layer.aclose()
    assert unleash.enabled is False
    assert off.summary == "route of fraud-detector on flags: true → false"
    assert "health" not in layer.capabilities


def test_templates_are_checked_when_the_config_loads() -> None:
    with pytest.raises(ValidationError, match="invalid template"):
        router_config("http://r", set_route={"method": "PUT", "url": "/routes/{{ model"})


async def test_unknown_template_variable_is_a_config_error(
    router_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_API_KEY", API_KEY)
    layer = build_instance(
        "router",
        router_config(router_url, get_route={"url": "/routes/{{ modle }}", "route_field": "target.route"}),
    )
    with pytest.raises(ConfigError, match="'modle' is undefined") as caught:
        await layer.state("fraud-detector")
    await layer.aclose()
    assert caught.value.hint == "available variables: model"


async def test_sandbox_blocks_python_internals(router_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_API_KEY", API_KEY)
    layer = build_instance(
        "router",
        router_config(
            router_url,
            get_route={
                "url": "/routes/{{ model.__class__.__mro__[1].__subclasses__() }}",
                "route_field": "target.route",
            },
        ),
    )
    with pytest.raises(ConfigError, match=r"unsafe|access to attribute"):
        await layer.state("fraud-detector")
    await layer.aclose()


def test_missing_secret_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ROUTER_API_KEY is not set"):
        build_instance("router", router_config("http://127.0.0.1:9"))
