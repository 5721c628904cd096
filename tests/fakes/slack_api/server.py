"""``FakeSlack`` (every method family over one workspace), its HTTP endpoint with auth and
scripted failures, and the uvicorn runner ``FakeSlackServer``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.slack_api.chat import ChatMethods
from tests.fakes.slack_api.conversations import ConversationsMethods
from tests.fakes.slack_api.users import UsersMethods
from tests.fakes.slack_api.views import ViewsMethods
from tests.fakes.slack_api.workspace import Call, SlackError
from tests.fakes.threaded_uvicorn import ThreadedUvicorn
from tests.system.servers import free_port


class FakeSlack(ConversationsMethods, ChatMethods, UsersMethods, ViewsMethods):
    """The workspace state and the Web API methods; thread-safe (the server runs in a thread)."""

    # -- HTTP ---------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/{method}", self._endpoint, methods=["GET", "POST"])])

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        args, encoding = await _read_args(request)
        token = args.pop("token", None)
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        status, body, headers = self.dispatch(method, args, token)
        with self._lock:
            self.calls.append(Call(method, args, encoding, time.time(), status, body))
        return JSONResponse(body, status_code=status, headers=headers)

    def dispatch(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            if self.down_status is not None:
                return self.down_status, {"ok": False, "error": "service_unavailable"}, {}
            scripted = next((s for s in self._scripted if s.matches(method) and s.status != 200), None)
            if scripted is not None:
                scripted.count -= 1
                headers = (
                    {"Retry-After": str(scripted.retry_after)} if scripted.retry_after is not None else {}
                )
                return scripted.status, {"ok": False, "error": scripted.error}, headers
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, {}
            if token not in self.tokens:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            handler = self._handlers().get(method)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
            scripted = next((s for s in self._scripted if s.matches(method) and s.status == 200), None)
            if scripted is not None:
                scripted.count -= 1
                return 200, {"ok": False, "error": scripted.error, **scripted.extra}, {}
            try:
                return 200, {"ok": True, **handler(args)}, {}
            except SlackError as exc:
                return 200, {"ok": False, "error": exc.error, **exc.extra}, {}
            except KeyError as exc:
                return 200, {"ok": False, "error": "invalid_arguments", "missing": str(exc)}, {}

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        # The one table of supported methods; the handlers live in their family's module.
        return {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "pins.add": self._pins_add,
            "bookmarks.add": self._bookmarks_add,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Fake Workspace",
            "user": "incident-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }


async def _read_args(request: Request) -> tuple[dict[str, Any], str]:
    args: dict[str, Any] = dict(request.query_params)
    encoding = "query"
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type == "application/json":
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            args.update(loaded)
        encoding = "json"
    elif body:
        args.update(parse_qsl(body.decode(), keep_blank_values=True))
        encoding = "form"
    return args, encoding


class FakeSlackServer:
    """Runs a FakeSlack with uvicorn in a thread on a fixed port of 127.0.0.1.

    ``refusing_connections`` stops the server (connection refused) and starts it again on the
    same port, simulating Slack being unreachable rather than answering errors.
    """

    def __init__(self, fake: FakeSlack, port: int | None = None) -> None:
        self.fake = fake
        self.port = port or free_port()
        self._uvicorn: ThreadedUvicorn | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``AsyncWebClient(base_url=...)`` / ``slack.api_url`` should be set to."""
        return f"{self.url}/api/"

    def start(self) -> None:
        # A new server each time: refusing_connections() stops and starts it again.
        self._uvicorn = ThreadedUvicorn(self.fake.app(), self.port, name="the fake Slack API")
        self._uvicorn.start()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.stop()
        self._uvicorn = None

    @contextlib.contextmanager
    def refusing_connections(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextlib.contextmanager
def serve_fake_slack(fake: FakeSlack | None = None) -> Iterator[FakeSlackServer]:
    """Start a fake Slack Web API (a new workspace unless ``fake`` is given); stop it after."""
    server = FakeSlackServer(fake or FakeSlack())
    server.start()
    try:
        yield server
    finally:
        server.stop()
