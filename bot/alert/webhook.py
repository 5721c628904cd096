"""``POST /webhooks/{source}``: authenticate, read (bounded), validate, commit to the inbox, 202.

Answers, in the order they are decided:

    404  no source of that name                   401  credentials missing or wrong, or a signed
                                                       request seen before (nothing stored; audited)
    413  body over the limit (checked while read) 400  not JSON (names the error)
    422  JSON of the wrong shape (names the field) 503  not committed (Retry-After; senders retry)
    202  committed: {"status": "success", "message": "Event processed", "alerts": n, ...assigned keys}

Nothing a sender posts may produce a 500: Alertmanager drops a notification on a 4xx and
retries on a 5xx, so a 5xx is reserved for "we could not store it, try again".
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic_core import PydanticSerializationError, to_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.alert.intake import InboxEntry, InboxWriter
from bot.alert.metrics import AlertMetrics
from bot.alert.sources import Source
from bot.audit.failures import AuthFailures
from bot.auth.actor import Interface
from bot.auth.replay import ReplayGuard
from bot.db import utcnow
from bot.errors import AuthenticationError, ConfigError, InputError, UnavailableError
from integrations.sources.auth import BasicWebhookAuth, BearerWebhookAuth, replay_key
from integrations.sources.registry import decode_json

log = logging.getLogger(__name__)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    # pydantic-core writes UTF-8 JSON in a fraction of json.dumps' time (one per webhook).
    try:
        content = to_json(body)
    except PydanticSerializationError:  # a lone surrogate echoed from the body: escape it
        content = json.dumps(body).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


class BodyTooLargeError(Exception):
    pass


class WebhookReceiver:
    def __init__(
        self,
        sources: dict[str, Source],
        writer: InboxWriter,
        metrics: AlertMetrics,
        *,
        max_body_bytes: int,
        retry_after_s: int,
        failures: AuthFailures | None = None,
    ) -> None:
        self.sources = sources
        self.writer = writer
        self.metrics = metrics
        self.failures = failures
        #: Signatures of signed requests accepted lately: each is accepted once.
        self.replays = ReplayGuard()
        self.max_body_bytes = max_body_bytes
        self.retry_after = str(retry_after_s)
        self.clock: Callable[[], datetime] = utcnow
        # Labelled children looked up once: ``labels()`` checks and locks at every call.
        self._received = functools.cache(metrics.received.labels)

    async def receive(self, name: str, request: Request) -> Response:
        source = self.sources.get(name)
        if source is None:
            self.metrics.refused.labels("_unknown", "unknown_source").inc()
            return _json(
                404,
                {
                    "detail": f"no alert source named {name!r}",
                    "code": "not_found",
                    "hint": f"configure alerts.sources.{name} (kind and auth)",
                },
            )
        now = self.clock()
        try:
            if not source.signs_body:
                source.authenticate(request.headers, b"", now)
            body = await self._read(request)
            if source.signs_body:
                source.authenticate(request.headers, body, now)
        except BodyTooLargeError:
            return self._refuse(
                source,
                "too_large",
                413,
                {
                    "detail": f"body larger than {self.max_body_bytes} bytes",
                    "code": "too_large",
                    "hint": "lower the sender's batch size (e.g. Alertmanager max_alerts) or raise "
                    "alerts.intake.max_body_bytes",
                },
            )
        except AuthenticationError as exc:
            return await self._unauthenticated(source, request, exc)
        except ConfigError as exc:
            log.error("alert source %r cannot check credentials: %s", name, exc)
            return self._refuse(
                source,
                "unavailable",
                503,
                {
                    "detail": "the bot cannot check this source's credentials (see its log)",
                    "code": "unavailable",
                },
                {"Retry-After": self.retry_after},
            )
        signed = replay_key(source.auth, request.headers)
        key = f"{name}:{signed[0]}" if signed is not None else None
        if signed is not None and key is not None and not self.replays.claim(key, signed[1]):
            replayed = AuthenticationError(
                "this signed request was received before: a replay is refused",
                hint="a sender signs each request with a new timestamp",
            )
            return await self._unauthenticated(source, request, replayed)
        stored = False
        try:
            response = await self._accept(source, name, body, now)
            stored = response.status_code == 202
            return response
        finally:
            if key is not None and not stored:
                self.replays.release(key)  # not stored: the sender may send it again

    async def _unauthenticated(self, source: Source, request: Request, exc: AuthenticationError) -> Response:
        if self.failures is not None:
            await self.failures.record(
                Interface.WEBHOOK,
                request.client.host if request.client is not None else "unknown",
                target_type="webhook_source",
                target_id=source.name,
                reason=exc.message,
                status=401,
            )
        return self._refuse(source, "unauthenticated", 401, exc.to_dict(), _challenge(source))

    async def _accept(self, source: Source, name: str, body: bytes, now: datetime) -> Response:
        try:
            text = _utf8(body)
            data = decode_json(body)
        except InputError as exc:
            return self._refuse(source, "invalid_json", 400, {**exc.to_dict(), "code": "invalid_json"})
        try:
            accepted = source.accept(data, now=now)
        except InputError as exc:
            return self._refuse(source, "invalid_shape", 422, exc.to_dict())
        except Exception:
            # A parser bug must not turn into a 5xx that the sender retries forever.
            log.exception("the %s parser failed on a body posted to source %r", source.kind, name)
            return self._refuse(
                source,
                "invalid_shape",
                422,
                {
                    "detail": f"body: the {source.kind} parser could not read it (the bot's log has details)",
                    "code": "invalid_input",
                    "field": "body",
                },
            )

        extras = accepted.response_extras
        reply: dict[str, Any] = {
            "status": "success",
            "message": "Event processed",
            "alerts": accepted.alerts,
        }
        if accepted.alerts:
            entry = InboxEntry(
                source=name,
                kind=source.kind,
                received_at=now,
                body=text,
                assigned=extras,
                alert_count=accepted.alerts,
            )
            try:
                await self.writer.submit(entry)
            except UnavailableError as exc:
                return self._refuse(
                    source, "unavailable", 503, exc.to_dict(), {"Retry-After": self.retry_after}
                )
            self._received(name).inc(accepted.alerts)
        return _json(202, {**reply, **extras})

    async def _read(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLargeError
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLargeError
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse(
        self,
        source: Source,
        reason: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Response:
        self.metrics.refused.labels(source.name, reason).inc()
        return _json(status, body, headers)


def _utf8(body: bytes) -> str:
    """JSON on the wire is UTF-8 (RFC 8259); the inbox stores exactly this text."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("body is not UTF-8 encoded JSON", field="body") from None


def _challenge(source: Source) -> dict[str, str]:
    if isinstance(source.auth, BasicWebhookAuth):
        return {"WWW-Authenticate": 'Basic realm="incident-bot"'}
    if isinstance(source.auth, BearerWebhookAuth):
        return {"WWW-Authenticate": "Bearer"}
    return {}


class WebhookFastPath:
    """Pure ASGI layer that serves ``POST /webhooks/{source}`` in front of the framework stack.

    Webhooks are the bot's one hot path (storms of thousands per second); every other request
    goes through FastAPI as usual. Installed as a front layer (``BotApp.add_front_layer``), it
    skips FastAPI's own entry (its telemetry check), its server-error, telemetry and body-limit
    middlewares, routing across all routes, the exception middleware and the request-metrics
    middleware; it answers its own errors (never an unhandled exception) and records the same
    request metrics itself.
    The FastAPI route of the same path documents the endpoint in OpenAPI and serves it when
    this layer is not installed.
    """

    PREFIX = "/webhooks/"
    ROUTE = "/webhooks/{source}"

    def __init__(
        self, app: ASGIApp, receiver: WebhookReceiver, requests: Counter, latency: Histogram
    ) -> None:
        self.app = app
        self.receiver = receiver
        self.requests = requests
        # Labelled children looked up once, as in WebhookReceiver.
        self._counted = functools.cache(lambda status: requests.labels("POST", self.ROUTE, str(status)))
        self._timed = latency.labels("POST", self.ROUTE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        name = path[len(self.PREFIX) :] if path.startswith(self.PREFIX) else ""
        if not name or "/" in name or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        try:
            response = await self.receiver.receive(name, Request(scope, receive))
            status = response.status_code
            await response(scope, receive, send)
        except Exception:
            log.exception("webhook %s failed", path)
            await _json(
                500, {"detail": "internal error; the bot's log has the details", "code": "internal_error"}
            )(scope, receive, send)
        finally:
            self._counted(status).inc()
            self._timed.observe(time.perf_counter() - started)
