"""A generic HTTP serving adapter: an in-house router or a feature flag as the fallback switch.

The config names three calls as templates (URL, method, headers, body): ``get_route`` (plus
the JSON field holding the route), ``set_route`` and ``health``. Each served model has two
route values, ``primary`` and ``fallback``: a router target name, a flag variant, or
``true``/``false`` for an on/off flag (e.g. Unleash's admin API, or a flagd flag source the
team serves over HTTP). After ``set_route`` the route is read back, so a router that accepts
the call but does not switch is reported instead of trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from bot.errors import InputError, IntegrationError
from integrations.base import CheckResult
from integrations.http import ServiceClient
from integrations.serving.config import (
    HttpRoutes,
    HttpServingConfig,
    RequestTemplate,
    RouteValue,
    ServedModel,
)
from integrations.serving.protocol import (
    Capability,
    ServedVersion,
    ServingChange,
    ServingHealth,
    ServingState,
    unsupported,
)
from integrations.serving.templates import field_value, render


class HttpServing:
    kind = "http"

    def __init__(self, name: str, config: HttpServingConfig, client: ServiceClient) -> None:
        self.name = name
        self.config = config
        self.url = client.base_url
        self._http = client
        caps: set[Capability] = {"fallback"}
        if config.health is not None:
            caps.add("health")
        if config.get_version is not None and config.set_version is not None:
            caps.add("version")
        self.capabilities: frozenset[Capability] = frozenset(caps)

    @property
    def serves(self) -> Sequence[ServedModel]:
        return self.config.serves

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check(self) -> CheckResult:
        """Reachable when the base URL answers at all; 401/403 mean bad credentials."""
        try:
            response = await self._http.request(
                "GET", "", call="checking the router", ok_statuses=tuple(range(400, 600))
            )
        except IntegrationError as exc:
            return CheckResult(self.name, self.kind, self.url, reachable=False, error=str(exc))
        refused = response.status_code in (401, 403)
        return CheckResult(
            self.name,
            self.kind,
            self.url,
            reachable=True,
            authenticated=not refused,
            error=f"HTTP {response.status_code}: check secret_headers / auth" if refused else None,
        )

    # -- calls ------------------------------------------------------------------------------

    async def _send(
        self,
        template: RequestTemplate,
        what: str,
        variables: dict[str, Any],
        ok_statuses: tuple[int, ...] = (),
    ) -> httpx.Response:
        url = render(template.url, f"{what} url", variables)
        body = render(template.body, f"{what} body", variables) if template.body else None
        return await self._http.request(
            template.method,
            url,
            call=f"{what} for model {variables['model']}",
            headers=template.headers,
            content=body,
            ok_statuses=ok_statuses,
        )

    async def _route(self, model: str) -> RouteValue:
        response = await self._send(self.config.get_route, "get_route", {"model": model})
        field = self.config.get_route.route_field
        call = f"get_route for model {model}"
        try:
            value = field_value(response.json(), field)
        except ValueError:
            raise IntegrationError(
                f"{self._http.system}: get_route answered with a body that is not JSON",
                system=self._http.system,
                call=call,
                hint="check get_route.url",
            ) from None
        except KeyError as exc:
            raise IntegrationError(
                f"{self._http.system}: get_route answer has no field {field!r} (missing {exc.args[0]!r})",
                system=self._http.system,
                call=call,
                hint="check get_route.route_field",
            ) from None
        if not isinstance(value, str | bool | int | float):
            raise IntegrationError(
                f"{self._http.system}: get_route field {field!r} holds a "
                f"{type(value).__name__}, expected a string, number or boolean",
                system=self._http.system,
                call=call,
                hint="point route_field at a scalar",
            )
        return value

    def _routes(self, model: str) -> HttpRoutes:
        routes = self.config.fallbacks.get(model)
        if routes is None:
            raise InputError(
                f"no routes are configured for model {model} on serving instance {self.name}",
                hint=f"add fallbacks: {{{model}: {{primary: ..., fallback: ...}}}} under "
                f"integrations.serving.{self.name}",
            )
        return routes

    def _state(self, model: str, route: RouteValue) -> ServingState:
        routes = self.config.fallbacks.get(model)
        in_fallback = routes is not None and _same(route, routes.fallback)
        return ServingState(
            model=model,
            mode="fallback" if in_fallback else "primary",
            model_uri=_text(route),
            details={"route": route},
        )

    async def state(self, model: str) -> ServingState:
        return self._state(model, await self._route(model))

    # -- fallback ---------------------------------------------------------------------------

    async def plan_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        routes = self._routes(model)
        before = await self.state(model)
        wanted: RouteValue = routes.fallback if enabled else routes.primary
        current = before.details["route"]
        if _same(current, wanted):
            return ServingChange(
                before, before, f"route of {model} on {self.name} already {_text(wanted)}; nothing to do"
            )
        if not enabled and before.mode == "primary":
            return ServingChange(
                before,
                before,
                f"{model} on {self.name} is not on its fallback "
                f"route (route {_text(current)}); nothing to do",
            )
        return ServingChange(
            before,
            self._state(model, wanted),
            f"route of {model} on {self.name}: {_text(current)} → {_text(wanted)}",
        )

    async def set_fallback(self, model: str, *, enabled: bool) -> ServingChange:
        plan = await self.plan_fallback(model, enabled=enabled)
        if not plan.changes:
            return plan
        wanted = plan.after.details["route"]
        await self._send(self.config.set_route, "set_route", {"model": model, "route": wanted})
        now = await self._route(model)
        if not _same(now, wanted):
            raise IntegrationError(
                f"{self._http.system}: set_route for model {model} succeeded but get_route "
                f"still answers {_text(now)} (wanted {_text(wanted)})",
                system=self._http.system,
                call=f"set_route for model {model}",
                hint="check the set_route template (URL, body) against the router's API",
            )
        return ServingChange(plan.before, self._state(model, now), plan.summary)

    # -- health -----------------------------------------------------------------------------

    async def health(self, model: str) -> ServingHealth:
        check = self.config.health
        if check is None:
            raise unsupported(self, "health")
        response = await self._send(check, "health", {"model": model}, ok_statuses=tuple(range(400, 600)))
        problems = []
        if response.status_code not in check.healthy_statuses:
            problems.append(f"HTTP {response.status_code}")
        elif check.field is not None:
            try:
                value = field_value(response.json(), check.field)
            except (ValueError, KeyError):
                value = None
                problems.append(f"no field {check.field!r} in the answer")
            else:
                if not any(_same(value, ok) for ok in check.healthy_values):
                    problems.append(f"{check.field} is {_text(value)}")
        healthy = not problems
        return ServingHealth(
            model=model,
            healthy=healthy,
            summary=f"{model} on {self.name}: "
            f"{'healthy' if healthy else 'not healthy, ' + ', '.join(problems)}",
            details={"status": response.status_code},
        )

    # -- version ----------------------------------------------------------------------------

    async def served_version(self, served: ServedModel) -> ServedVersion:
        request = self.config.get_version
        if request is None:
            raise unsupported(self, "version")
        name = served.served_name
        response = await self._send(request, "get_version", {"model": name})
        try:
            value = field_value(response.json(), request.version_field)
        except (ValueError, KeyError):
            raise IntegrationError(
                f"{self._http.system}: get_version answer has no field {request.version_field!r}",
                system=self._http.system,
                call=f"get_version for model {name}",
                hint="check get_version.version_field",
            ) from None
        version = _text(value).removeprefix("v")
        return ServedVersion(name, version, None, None, f"{name} on {self.name}: get_version says {version}")

    async def serve_version(self, served: ServedModel, version: str, uri: str) -> ServedVersion:
        request = self.config.set_version
        if request is None:
            raise unsupported(self, "version")
        name = served.served_name
        await self._send(request, "set_version", {"model": name, "version": version, "uri": uri})
        now = await self.served_version(served)
        if now.version != version:
            raise IntegrationError(
                f"{self._http.system}: set_version for model {name} succeeded but get_version "
                f"still answers {now.version} (wanted {version})",
                system=self._http.system,
                call=f"set_version for model {name}",
                hint="check the set_version template against the router's API",
            )
        return now

    # -- not an HTTP router's job -----------------------------------------------------------

    async def plan_rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        raise unsupported(self, "rollback")

    async def rollback(
        self, model: str, *, to_uri: str | None = None, canary_percent: int | None = None
    ) -> ServingChange:
        raise unsupported(self, "rollback")

    async def plan_reload(self, model: str) -> ServingChange:
        raise unsupported(self, "reload")

    async def reload(self, model: str) -> ServingChange:
        raise unsupported(self, "reload")


def _same(a: Any, b: Any) -> bool:
    """Route equality that does not let ``1 == True`` pass for a flag."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
