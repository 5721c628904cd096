"""Pieces shared by the orchestrator implementations: credentials, timestamps, errors."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from integrations.base import CheckResult
from integrations.credentials import AuthConfig, BasicAuth, BearerAuth


@dataclass(frozen=True)
class Credentials:
    """Secrets read once at build time; ``SecretStr`` keeps them out of reprs and logs."""

    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @classmethod
    def from_config(cls, auth: AuthConfig) -> Credentials:
        if isinstance(auth, BasicAuth):
            return cls(username=auth.username, password=auth.password.resolve())
        if isinstance(auth, BearerAuth):
            return cls(token=auth.token.resolve())
        return cls()

    def basic_header(self) -> dict[str, str]:
        if self.username is None or self.password is None:
            return {}
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}

    def bearer_header(self) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp from an API body (``Z`` suffix included), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def rejected(
    system: str,
    message: str,
    *,
    call: str,
    hint: str,
    status: int | None = None,
    **context: Any,
) -> RejectedIntegrationError:
    return RejectedIntegrationError(
        f"{system}: {message}", system=system, call=call, status=status, hint=hint, **context
    )


def json_object(system: str, response: httpx.Response, call: str) -> dict[str, Any]:
    """The JSON object an API answered, or a rejection that says the URL looks wrong."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if not isinstance(body, dict):
        raise rejected(
            system,
            f"unexpected answer {str(body)[:100]!r}",
            call=call,
            hint="check that the URL points at the orchestrator's API",
        )
    return body


async def probe_instance(
    name: str, kind: str, url: str, probe: Callable[[], Awaitable[str | None]]
) -> CheckResult:
    """Run an authenticated read (``probe`` returns the server version) into a CheckResult."""
    try:
        version = await probe()
    except RetryableIntegrationError as exc:
        return CheckResult(name=name, kind=kind, url=url, reachable=False, error=str(exc))
    except RejectedIntegrationError as exc:
        denied = exc.status in (401, 403)
        return CheckResult(
            name=name,
            kind=kind,
            url=url,
            reachable=True,
            authenticated=False if denied else None,
            error=str(exc),
        )
    return CheckResult(name=name, kind=kind, url=url, reachable=True, authenticated=True, version=version)
