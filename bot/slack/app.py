"""The Slack app: bolt's ``AsyncApp`` in the web app's event loop, over HTTP or Socket Mode.

- HTTP mode (default when Slack is configured): ``POST /slack/events`` in the same FastAPI
  app, through bolt's async Starlette handler. Every request's v0 signature is verified with the
  signing secret, requests older than 5 minutes are refused, and a signature is accepted once
  (a replayed request is refused): 401, nothing runs, an ``auth.failed`` audit entry (at a
  bounded rate per client). Bolt verifies the signature again behind that.
- Socket Mode when ``slack.app_token`` (``SLACK_APP_TOKEN``) is set: bolt's async socket mode
  handler, started and stopped as a runtime component; no public URL and no route.
- Not configured: no Slack routes; the console chat adapter carries the room. A bot token
  without a signing secret (and no app token) posts to Slack but takes no requests (logged).

``build_slack_app`` builds a new app per call (no module global), so tests and several apps
in one process do not share state.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.actor import Interface
from bot.auth.replay import ReplayGuard
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.slack import middleware
from bot.slack.deps import SlackDeps
from bot.slack.handlers import buttons, capture, commands, declare, runbooks
from bot.slack.room import install_room
from bot.slack.work import BackgroundWork

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
#: Slack refuses nothing older than five minutes either way; a signature is remembered for
#: both sides of that window.
SIGNATURE_MEMORY_S = 600.0


def web_client(runtime: Runtime) -> AsyncWebClient:
    """The production Web API client of the bolt app (reads and views.open; room calls use the outbox)."""
    slack = runtime.settings.slack
    if slack.bot_token is None:
        raise ConfigError("slack.bot_token (SLACK_BOT_TOKEN) is not set")
    client = AsyncWebClient(token=slack.bot_token.get_secret_value(), base_url=slack.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_slack_app(runtime: Runtime) -> AsyncApp:
    """A bolt AsyncApp with the bot's middleware and listeners; its background work joins the runtime."""
    slack = runtime.settings.slack
    socket_mode = slack.app_token is not None
    if not socket_mode and slack.signing_secret is None:
        raise ConfigError(
            "slack.signing_secret (SLACK_SIGNING_SECRET) is required to receive Slack requests over HTTP",
            hint="set it from the app's Basic Information page, or set SLACK_APP_TOKEN for Socket Mode",
        )
    app = AsyncApp(
        client=web_client(runtime),
        # Socket Mode requests arrive over an authenticated websocket; bolt skips verification there.
        signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else "",
        request_verification_enabled=not socket_mode,
        name="incident-bot",
    )
    deps = SlackDeps(runtime=runtime, work=BackgroundWork())
    runtime.components.append(deps.work)
    app.use(middleware.actor_middleware(runtime.authz.directory))
    app.use(middleware.parse_command)
    app.use(middleware.incident_middleware(runtime.db))
    commands.register(app, deps)
    declare.register(app, deps)
    buttons.register(app, deps)
    capture.register(app, deps)
    runbooks.register(app, deps)
    return app


class SocketMode:
    """Runtime component: bolt's async Socket Mode connection, opened and closed with the web app."""

    def __init__(self, app: AsyncApp, app_token: str) -> None:
        self._app = app
        self._token = app_token
        self._handler: AsyncSocketModeHandler | None = None

    async def start(self) -> None:
        self._handler = AsyncSocketModeHandler(self._app, self._token)
        # bolt leaves connect_async/close_async unannotated.
        await self._handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        if self._handler is not None:
            await self._handler.close_async()  # type: ignore[no-untyped-call]
            self._handler = None


def events_router(app: AsyncApp, runtime: Runtime, signing_secret: str) -> APIRouter:
    handler = AsyncSlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret)
    replays = ReplayGuard()
    router = APIRouter()

    @router.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()  # Starlette keeps it: bolt reads the same bytes
        reason = None
        signature = request.headers.get("x-slack-signature", "")
        if not verifier.is_valid_request(body, dict(request.headers)):
            reason = "the Slack signature is missing, wrong or older than 5 minutes"
        elif not replays.claim(signature, SIGNATURE_MEMORY_S):
            reason = "this signed request was received before: a replay is refused"
        if reason is not None:
            await runtime.auth_failures.record(
                Interface.SLACK,
                request.client.host if request.client is not None else "unknown",
                target_type="endpoint",
                target_id=f"POST {EVENTS_PATH}",
                reason=reason,
                status=401,
            )
            return JSONResponse({"error": "invalid request"}, status_code=401)
        response = await handler.handle(request)
        if response.status_code >= 500:
            replays.release(signature)  # not handled: Slack's retry must get in
        return response

    return router


def install_slack(web_app: FastAPI, runtime: Runtime) -> AsyncApp | None:
    """The incident room (always: Slack or console), and Slack's requests if it is configured:
    a route (HTTP mode) or a component (Socket Mode)."""
    install_room(runtime)
    slack = runtime.settings.slack
    if not runtime.chat.configured:
        return None
    if slack.app_token is None and slack.signing_secret is None:
        # Deny by default: without the secret no request can be verified, so none is taken.
        log.warning(
            "Slack commands and buttons are off: slack.signing_secret (SLACK_SIGNING_SECRET) is not set "
            "and neither is slack.app_token (SLACK_APP_TOKEN) for Socket Mode; the room still posts to Slack"
        )
        return None
    app = build_slack_app(runtime)
    app_token = slack.app_token
    if app_token is not None:
        runtime.components.append(SocketMode(app, app_token.get_secret_value()))
    else:
        assert slack.signing_secret is not None  # checked above
        web_app.include_router(events_router(app, runtime, slack.signing_secret.get_secret_value()))
    return app
