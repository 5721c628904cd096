"""Senders: what actually performs an outbox call. Slack's Web API, or the console.

``SlackSender`` is slack_sdk's ``AsyncWebClient`` (each method encoded the way the SDK does it:
JSON for message bodies, form/query arguments elsewhere) with the SDK's async rate-limit retry
handler: a 429 with a short ``Retry-After`` is retried once after waiting; a second 429, or a
long wait, surfaces as ``ChatRateLimitedError`` so the outbox worker pauses that method
durably instead of sleeping while it holds its claim on the message.
Connection errors and 5xx are not retried here: the outbox retries durably with backoff.

``ConsoleSender`` runs when no Slack credentials are configured: it logs each call and answers
like Slack would, so the whole incident-room flow runs the same without Slack.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import methods
from bot.chat.settings import SlackSettings
from bot.errors import RejectedIntegrationError, RetryableIntegrationError

log = logging.getLogger(__name__)
console_log = logging.getLogger("bot.chat.console")

_SYSTEM = "Slack Web API"


class ChatRateLimitedError(RetryableIntegrationError):
    """Slack answered 429 even after the SDK waited once: pause the method for ``retry_after_s``."""

    code = "chat_rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, call: str, system: str) -> None:
        super().__init__(message, system=system, call=call, status=429, hint="the outbox waits and retries")
        self.retry_after_s = retry_after_s


class ShortRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's rate-limit retry handler, limited to waits of at most ``max_wait_s``."""

    def __init__(self, max_wait_s: float) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait_s = max_wait_s

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        allowed = await super()._can_retry_async(state=state, request=request, response=response, error=error)
        return allowed and response is not None and _retry_after(response.headers) <= self.max_wait_s


class ChatSender(Protocol):
    """Performs one Web API call and returns Slack's answer body (``ok`` true or false).

    Raises ``ChatRateLimitedError`` (429), ``RetryableIntegrationError`` (unreachable, 5xx,
    timeout) or ``RejectedIntegrationError`` (any other HTTP error, arguments the method
    does not take). ``ok: false`` answers are returned, not raised: the worker decides.
    """

    kind: str

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class SlackSender:
    kind = "slack"

    def __init__(self, settings: SlackSettings) -> None:
        if settings.bot_token is None:
            raise ValueError("SlackSender needs slack.bot_token")
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self.client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_url,
            timeout=settings.outbox.call_timeout_s,
            retry_handlers=[ShortRateLimitRetryHandler(max_wait_s=settings.outbox.sdk_max_retry_wait_s)],
            logger=logging.getLogger("bot.chat.slack_sdk"),
        )

    @property
    def system(self) -> str:
        return f"{_SYSTEM} at {self._settings.api_url}"

    def _client_session(self) -> aiohttp.ClientSession:
        """One connection pool per sender, created inside the running event loop."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._settings.outbox.call_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
            self.client.session = self._session
        return self._session

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        function = getattr(self.client, methods.sdk_method_name(method), None)
        if function is None or not methods.is_known(method):
            raise RejectedIntegrationError(
                f"{self.system}: {method} is not a method the bot knows", system=self.system, call=method
            )
        self._client_session()
        try:
            response = await function(**payload)
        except SlackApiError as exc:
            return self._answer_of_error(method, exc)
        except TypeError as exc:
            raise RejectedIntegrationError(
                f"{self.system}: {method} does not take these arguments: {exc}",
                system=self.system,
                call=method,
                hint="check the enqueued payload against the method's documentation",
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableIntegrationError(
                f"{self.system}: {method} failed: {type(exc).__name__}: {exc}",
                system=self.system,
                call=method,
                hint="check the network path to Slack and https://slack-status.com",
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {"ok": True}

    def _answer_of_error(self, method: str, exc: SlackApiError) -> dict[str, Any]:
        response = exc.response
        status = int(response.status_code)
        body = response.data if isinstance(response.data, dict) else {}
        if status == 200:
            return dict(body)
        if status == 429:
            retry_after = _retry_after(response.headers)
            raise ChatRateLimitedError(
                f"{self.system}: {method} rate-limited (429), retry after {retry_after:g}s",
                retry_after_s=retry_after,
                call=method,
                system=self.system,
            )
        error = body.get("error", "no error code")
        if status >= 500 or status == 408:
            raise RetryableIntegrationError(
                f"{self.system}: {method} answered HTTP {status} ({error})",
                system=self.system,
                call=method,
                status=status,
                hint="Slack is having trouble; the outbox retries with backoff (https://slack-status.com)",
            )
        raise RejectedIntegrationError(
            f"{self.system}: {method} answered HTTP {status} ({error})",
            system=self.system,
            call=method,
            status=status,
            hint="check slack.api_url and the app's configuration",
        )

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


class ConsoleSender:
    """The chat adapter without Slack: logs each call and answers like Slack would.

    User groups named in the configuration (``known_groups``, e.g. ``@ml-oncall`` as a
    responder or an approver) exist, without members: inviting one invites no one, quietly.
    """

    kind = "console"

    def __init__(self, known_groups: Callable[[], Iterable[str]] = tuple) -> None:
        self._known_groups = known_groups
        self._ids = itertools.count(1)
        self._channels: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not methods.is_known(method):
            raise RejectedIntegrationError(
                f"console chat: {method} is not a method the bot knows", call=method
            )
        text = str(payload.get("text") or payload.get("name") or payload.get("topic") or "")
        console_log.info(
            "chat %s %s: %s", method, payload.get("channel") or payload.get("channel_id") or "", text
        )
        return self._answer(method, payload)

    def _answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel") or payload.get("channel_id") or "")
        if method == "conversations.create":
            name = str(payload.get("name", ""))
            if any(c["name"] == name for c in self._channels.values()):
                return {"ok": False, "error": "name_taken"}
            channel_id = f"CONSOLE{next(self._ids)}"
            self._channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_channel": True,
                "is_member": True,
            }
            return {"ok": True, "channel": dict(self._channels[channel_id])}
        if method in (
            "conversations.invite",
            "conversations.join",
            "conversations.info",
            "conversations.setTopic",
        ):
            info = self._channels.get(channel, {"id": channel, "name": channel, "is_member": True})
            if method == "conversations.setTopic":
                info["topic"] = {"value": str(payload.get("topic", ""))}
            return {"ok": True, "channel": dict(info)}
        if method == "chat.postMessage":
            ts = f"{next(self._ids)}.000"
            message = {"type": "message", "text": str(payload.get("text", "")), "ts": ts}
            self._messages.setdefault(channel, []).append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": payload.get("ts"), "text": payload.get("text", "")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{next(self._ids)}.000"}
        if method == "chat.getPermalink":
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"console://{channel}/{payload.get('message_ts')}",
            }
        if method == "conversations.history":
            return {
                "ok": True,
                "messages": list(reversed(self._messages.get(channel, []))),
                "has_more": False,
            }
        if method == "users.lookupByEmail":
            return {"ok": False, "error": "users_not_found"}
        if method == "users.info":
            user = str(payload.get("user", ""))
            return {"ok": True, "user": {"id": user, "name": user, "real_name": user, "profile": {}}}
        if method == "usergroups.users.list":
            return {"ok": True, "users": []}
        if method == "usergroups.list":
            handles = sorted({g.strip().removeprefix("@") for g in self._known_groups() if g.strip()})
            groups = [{"id": f"SCONSOLE{n}", "handle": h, "users": []} for n, h in enumerate(handles, 1)]
            return {"ok": True, "usergroups": groups}
        if method in ("views.open", "views.update"):
            view = payload.get("view") if isinstance(payload.get("view"), dict) else {}
            return {"ok": True, "view": {**(view or {}), "id": f"VCONSOLE{next(self._ids)}"}}
        if method == "auth.test":
            return {"ok": True, "user_id": "UCONSOLE", "team_id": "TCONSOLE", "bot_id": "BCONSOLE"}
        if method == "bookmarks.add":
            return {"ok": True, "bookmark": {"id": f"BkCONSOLE{next(self._ids)}", "channel_id": channel}}
        return {"ok": True}

    async def close(self) -> None:
        return None


def build_sender(settings: SlackSettings, known_groups: Callable[[], Iterable[str]] = tuple) -> ChatSender:
    """Slack when configured; else the console, where ``known_groups`` (@handles) exist."""
    return SlackSender(settings) if settings.configured else ConsoleSender(known_groups)
