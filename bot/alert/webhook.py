"""``POST /webhooks/{source}``: authenticate, read (bounded), validate, commit to the inbox, 202.

Answers, in the order they are decided:

    404  no source of that name                   401  credentials missing or wrong (nothing stored)
    413  body over the limit (checked while read) 400  not JSON (names the error)
    422  JSON of the wrong shape (names the field) 503  not committed (Retry-After; senders retry)
    202  committed: {"status": "success", "alerts": n, "inbox_id": id, ...assigned keys}

Nothing a sender posts may produce a 500: Alertmanager drops a notification on a 4xx and
retries on a 5xx, so a 5xx is reserved for "we could not store it, try again".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.alert.intake import InboxEntry, InboxWriter
from bot.alert.metrics import AlertMetrics
from bot.alert.sources import Source
from bot.db import utcnow
from bot.errors import AuthenticationError, ConfigError, InputError, UnavailableError
from integrations.sources.auth import BasicWebhookAuth, BearerWebhookAuth
from integrations.sources.registry import decode_json

log = logging.getLogger(__name__)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


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
    ) -> None:
        self.sources = sources
        self.writer = writer
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.retry_after = str(retry_after_s)
        self.clock: Callable[[], datetime] = utcnow

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
            return self._refuse(source, "unauthenticated", 401, exc.to_dict(), _challenge(source))
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

        try:
            text = _utf8(body)
            data = decode_json(body)
        except InputError as exc:
            return self._refuse(source, "invalid_json", 400, {**exc.to_dict(), "code": "invalid_json"})
        try:
            batch = source.parse(data, now=now)
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

        extras = dict(batch.response_extras)
        reply: dict[str, Any] = {
            "status": "success",
            "message": "Event processed",
            "alerts": len(batch.alerts),
        }
        if batch.alerts:
            entry = InboxEntry(
                source=name,
                kind=source.kind,
                received_at=now,
                body=text,
                assigned=extras,
                alert_count=len(batch.alerts),
            )
            try:
                reply["inbox_id"] = await self.writer.submit(entry)
            except UnavailableError as exc:
                return self._refuse(
                    source, "unavailable", 503, exc.to_dict(), {"Retry-After": self.retry_after}
                )
            self.metrics.received.labels(name).inc(len(batch.alerts))
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
