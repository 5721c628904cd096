"""HTTP policy shared by every integration client: timeouts, retries, circuit breaker, errors.

- Retries (jittered exponential backoff) only for idempotent calls, and only on connection
  errors, timeouts, 429 and 5xx. A POST that creates something is never retried blindly.
- One circuit breaker per configured instance: after ``failure_threshold`` consecutive
  retryable failures the instance fails fast for ``reset_after_s``, then one probe is let
  through.
- Every error names the system, its URL, the call, the status and what to check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.errors import RejectedIntegrationError, RetryableIntegrationError

_HINTS = {
    401: "check the credentials configured for this instance",
    403: "check the token's permissions",
    404: "check the name of the resource and the instance's URL",
    409: "the resource changed meanwhile; plan again",
    429: "the system is rate-limiting us; retry later",
}


class HttpPolicy(BaseModel):
    """Per-instance HTTP behaviour (part of each integration's config)."""

    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(10.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_after_s: float = Field(30.0, gt=0)
    verify_tls: bool = True


class CircuitBreaker:
    """Consecutive-failure breaker: closed → open (fail fast) → half-open (one probe)."""

    def __init__(self, failure_threshold: int, reset_after_s: float) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.reset_after_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        return self.state != "open"

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._failures >= self.failure_threshold or self._opened_at is not None:
            self._opened_at = time.monotonic()


@dataclass
class _RetryableError(Exception):
    error: RetryableIntegrationError


class ServiceClient:
    """A thin httpx client for one configured instance of an external system.

    ``system`` is the human name used in errors, e.g. "MLflow at http://mlflow:5000".
    Tests inject ``transport`` (``httpx.MockTransport``) for unit tests without network.
    """

    def __init__(
        self,
        *,
        kind: str,
        base_url: str,
        policy: HttpPolicy | None = None,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self.system = f"{kind} at {self.base_url}"
        self.breaker = CircuitBreaker(
            self.policy.breaker_failure_threshold, self.policy.breaker_reset_after_s
        )
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            auth=auth,
            transport=transport,
            verify=self.policy.verify_tls,
            timeout=httpx.Timeout(self.policy.read_timeout_s, connect=self.policy.connect_timeout_s),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        idempotent: bool | None = None,
        ok_statuses: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request under the policy.

        ``call`` describes the operation for errors ("setting alias 'champion'").
        ``idempotent`` defaults to True for GET/HEAD/PUT/DELETE/OPTIONS.
        Statuses in ``ok_statuses`` are returned instead of raised (e.g. 404 meaning absent).
        """
        if idempotent is None:
            idempotent = method.upper() in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
        attempts = 1 + (self.policy.retries if idempotent else 0)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(
                multiplier=self.policy.backoff_initial_s,
                max=self.policy.backoff_max_s,
                jitter=self.policy.backoff_initial_s,
            ),
            retry=retry_if_exception_type(_RetryableError),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(method, path, call, ok_statuses, kwargs)
        except _RetryableError as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        path: str,
        call: str,
        ok_statuses: tuple[int, ...],
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        if not self.breaker.allow():
            raise RetryableIntegrationError(
                f"{self.system}: circuit open after repeated failures; not calling {call}",
                system=self.system,
                call=call,
                hint=f"the system failed {self.breaker.failure_threshold} times in a row; "
                "check that it is up",
            )
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            self.breaker.record_failure()
            raise _RetryableError(
                RetryableIntegrationError(
                    f"{self.system}: timed out on {call}",
                    system=self.system,
                    call=call,
                    hint="check that the system is up and not overloaded",
                )
            ) from exc
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            raise _RetryableError(
                RetryableIntegrationError(
                    f"{self.system}: cannot connect on {call} ({type(exc).__name__})",
                    system=self.system,
                    call=call,
                    hint="check the URL and that the system is reachable from the bot",
                )
            ) from exc
        status = response.status_code
        if status < 400 or status in ok_statuses:
            self.breaker.record_success()
            return response
        reason = error_reason(response)
        message = f"{self.system}: {status} {reason} on {call}".rstrip()
        hint = _HINTS.get(status)
        if status == 429 or status >= 500:
            self.breaker.record_failure()
            raise _RetryableError(
                RetryableIntegrationError(message, system=self.system, call=call, status=status, hint=hint)
            )
        self.breaker.record_success()
        raise RejectedIntegrationError(message, system=self.system, call=call, status=status, hint=hint)


def error_reason(response: httpx.Response) -> str:
    """A short reason from an error body: JSON ``error_code``/``message``/``detail`` or text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        return text[0][:200] if text else ""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error_code", "reason", "message", "detail", "error") if body.get(k)]
        return ": ".join(parts)[:300]
    return str(body)[:200]
