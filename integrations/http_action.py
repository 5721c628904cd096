"""``http.request``: a generic runbook action that calls an HTTP endpoint of an allowed host.

For anything without a dedicated integration (a feature-flag service, an internal admin API).

- Deny by default: only hosts listed in ``allowed_hosts`` (``host`` or ``host:port``) may be
  called; any other URL is refused before a request is sent, in plan and in apply.
- Secrets: a host's ``secret_headers`` (e.g. ``Authorization: {env: FLAGS_TOKEN}``) are read
  at start-up and sent with every request to that host. They never appear in plans, results
  or errors; occurrences echoed back in a response body are masked.
- Idempotency follows the method: GET, HEAD, PUT and DELETE are retried on connection errors
  and 5xx; POST and PATCH are sent once unless the step says ``idempotent: true`` (say so only
  when repeating the call is harmless, e.g. a POST that sets a flag to a value).
- Undo: none, unless the step gives an explicit ``undo`` request, which becomes the inverse.
- Redirects are not followed: a redirect could lead to a host that is not allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, SecretStr

from bot.errors import ConfigError, InputError, IntegrationError, RejectedIntegrationError
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Invocation,
    Plan,
)
from integrations.credentials import SecretRef
from integrations.http import HttpPolicy, ServiceClient

ACTION_NAME = "http.request"
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_MASK = "***"
#: The last word of a secret header ("Bearer <token>") is masked too when at least this long.
_MIN_MASKED_WORD = 8


class HostRule(BaseModel):
    """What the action may do with one allowed host."""

    model_config = ConfigDict(extra="forbid")

    #: Header name → where its value lives; sent with every request to this host.
    secret_headers: dict[str, SecretRef] = Field(default_factory=dict)


class HttpActionConfig(BaseModel):
    """Configuration of ``http.request`` (``integrations.http_request`` in the config file)."""

    model_config = ConfigDict(extra="forbid")

    #: ``host`` (any port) or ``host:port`` → rule. Hosts not listed are refused.
    allowed_hosts: dict[str, HostRule] = Field(default_factory=dict)
    http: HttpPolicy = Field(default_factory=HttpPolicy)
    #: How many characters of a response body a result keeps.
    max_body_chars: int = Field(2000, ge=0)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Method = Annotated[
    Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], BeforeValidator(_upper)
]


class HttpRequest(ActionParams):
    """One HTTP request. ``url`` is final (the runbook engine has rendered its templates)."""

    model_config = ConfigDict(populate_by_name=True)

    method: Method
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue = Field(None, alias="json")
    #: Statuses that mean success; empty means any 2xx.
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list)
    #: Whether repeating the request is harmless (enables retries); default by method.
    idempotent: bool | None = None

    def is_idempotent(self) -> bool:
        return self.idempotent if self.idempotent is not None else (
            self.method in _IDEMPOTENT_METHODS
        )

    def expected(self) -> str:
        return ", ".join(map(str, self.expect_status)) if self.expect_status else "2xx"

    def describe(self) -> str:
        return f"{self.method} {self.url}"


class HttpRequestParams(HttpRequest):
    #: The request that undoes this one, if any; it becomes the step's inverse.
    undo: HttpRequest | None = None


def _split_host_key(key: str) -> tuple[str, int | None]:
    key = key.strip().lower()
    if key.startswith("["):  # [v6]:port or [v6]
        host, _, rest = key[1:].partition("]")
        port = rest.removeprefix(":")
    elif key.count(":") == 1:
        host, port = key.split(":")
    else:
        host, port = key, ""
    if not host or (port and not port.isdigit()):
        raise ConfigError(
            f"http.request: allowed host {key!r} is not `host` or `host:port`",
            hint="write e.g. flags.internal or flags.internal:8443, without a scheme or path",
        )
    return host, int(port) if port else None


def _parse_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise InputError(
            f"http.request: {raw!r} is not an http(s) URL",
            hint="give a full URL such as https://flags.internal/api/flags/x",
        )
    return url


@dataclass(frozen=True)
class _Target:
    """An allowed request target: its origin, its secret headers and the path to call."""

    url: httpx.URL
    origin: str
    path: str
    secrets: dict[str, SecretStr]


class HttpRequestAction(BaseAction[HttpRequestParams]):
    name = ACTION_NAME
    description = "Call an HTTP endpoint of an allowed host (generic escape hatch)."
    params_model = HttpRequestParams
    mutating = True

    def __init__(
        self, config: HttpActionConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._transport = transport
        # Secrets are read once, now, so a missing variable fails at start-up.
        self._rules: dict[tuple[str, int | None], dict[str, SecretStr]] = {
            _split_host_key(key): {name: ref.resolve() for name, ref in rule.secret_headers.items()}
            for key, rule in config.allowed_hosts.items()
        }
        self._clients: dict[str, ServiceClient] = {}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def _resolve(self, request: HttpRequest) -> _Target:
        url = _parse_url(request.url)
        if url.userinfo:
            raise InputError(
                "http.request: the URL carries credentials",
                hint="put credentials in the host's secret_headers in the config file",
            )
        port = url.port or (443 if url.scheme == "https" else 80)
        secrets = self._rules.get((url.host, port))
        if secrets is None:
            secrets = self._rules.get((url.host, None))
        if secrets is None:
            allowed = ", ".join(sorted(self._config.allowed_hosts)) or "none"
            raise InputError(
                f"http.request: host {url.netloc.decode()} is not allowed",
                hint=f"add it to integrations.http_request.allowed_hosts (allowed: {allowed})",
            )
        clash = {h.lower() for h in request.headers} & {h.lower() for h in secrets}
        if clash:
            raise InputError(
                f"http.request: header(s) {', '.join(sorted(clash))} are set by the config "
                f"for {url.host}",
                hint="remove them from the step; the configured secret value is sent",
            )
        origin = f"{url.scheme}://{url.netloc.decode()}"
        return _Target(url, origin, url.raw_path.decode("ascii"), secrets)

    def _client(self, target: _Target) -> ServiceClient:
        client = self._clients.get(target.origin)
        if client is None:
            client = ServiceClient(
                kind="HTTP",
                base_url=target.origin,
                policy=self._config.http,
                headers={k: v.get_secret_value() for k, v in target.secrets.items()},
                transport=self._transport,
            )
            self._clients[target.origin] = client
        return client

    def target(self, params: HttpRequestParams) -> str:
        url = _parse_url(params.url)
        return f"http:{url.netloc.decode()}{url.path}"

    async def plan(self, params: HttpRequestParams, ctx: ActionContext) -> Plan:
        # Read-only: validates the URLs against the allow-list; sends nothing.
        target = self._resolve(params)
        undo = params.undo
        if undo is not None:
            self._resolve(undo)
        idempotent = params.is_idempotent()
        return Plan(
            target=self.target(params),
            current={},
            intended={"request": params.describe()},
            summary=f"{params.describe()} (expect {params.expected()})",
            details={
                "method": params.method,
                "url": params.url,
                "headers": dict(params.headers),
                "secret_headers": sorted(target.secrets),
                "json": params.json_body,
                "expect_status": params.expected(),
                "idempotent": idempotent,
                "retries": self._config.http.retries if idempotent else 0,
                "undo": undo.describe() if undo else None,
            },
        )

    async def apply(self, params: HttpRequestParams, ctx: ActionContext) -> ActionResult:
        target = self._resolve(params)
        masker = _Masker(target.secrets)
        ok = tuple(s for s in params.expect_status if s >= 400)
        kwargs: dict[str, Any] = {"headers": dict(params.headers)}
        if params.json_body is not None:
            kwargs["json"] = params.json_body
        call = f"{params.method} {target.url.path}"
        try:
            response = await self._client(target).request(
                params.method,
                target.path,
                call=call,
                idempotent=params.is_idempotent(),
                ok_statuses=ok,
                **kwargs,
            )
        except IntegrationError as exc:
            raise masker.error(exc) from None
        status = response.status_code
        body = masker.mask(response.text[: self._config.max_body_chars])
        expected = status in params.expect_status if params.expect_status else 200 <= status < 300
        if not expected:
            system = f"HTTP at {target.origin}"
            raise RejectedIntegrationError(
                f"{system}: unexpected status {status} on {call}; expected {params.expected()}",
                system=system,
                call=call,
                status=status,
                hint="redirects are not followed" if 300 <= status < 400 else
                "check the URL and the request body, or list this status in expect_status",
            )
        return ActionResult(
            target=self.target(params),
            before={},
            after={"status": status},
            summary=f"{params.describe()} → {status}",
            details={
                "status": status,
                "content_type": response.headers.get("content-type"),
                "body": body,
            },
        )

    def inverse(self, params: HttpRequestParams, before: dict[str, Any]) -> Invocation | None:
        if params.undo is None:
            return None
        return Invocation(
            ACTION_NAME, params.undo.model_dump(mode="json", by_alias=True, exclude_none=True)
        )


class _Masker:
    """Masks configured secret values wherever a server echoed them back."""

    def __init__(self, secrets: dict[str, SecretStr]) -> None:
        words: set[str] = set()
        for secret in secrets.values():
            value = secret.get_secret_value()
            if value:
                words.add(value)
                last = value.split()[-1] if value.split() else ""
                if len(last) >= _MIN_MASKED_WORD:
                    words.add(last)
        # Longest first, so a whole "Bearer <token>" is masked before its token alone.
        self._words = sorted(words, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for word in self._words:
            text = text.replace(word, _MASK)
        return text

    def error(self, exc: IntegrationError) -> IntegrationError:
        return type(exc)(
            self.mask(exc.message),
            system=exc.system,
            call=exc.call,
            status=exc.status,
            hint=exc.hint,
        )


def register_http_action(
    registry: ActionRegistry,
    config: HttpActionConfig,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpRequestAction:
    """Register ``http.request``; returns the action so the app can ``aclose()`` it."""
    action = HttpRequestAction(config, transport)
    registry.register(action)
    return action
