"""A fake Slack Web API over real HTTP, for tests of the production slack_sdk client.

Slack cannot run here; this server speaks the published request/response shapes of the
methods the bot uses, so ``AsyncWebClient(base_url=server.api_url)`` is tested over the wire:

- ``GET``/``POST /api/<method>``; arguments from the query string, a form-encoded body or a
  JSON body (slack_sdk uses all three), booleans as ``true``/``1``;
- the token from ``Authorization: Bearer`` or a ``token`` argument: none → ``not_authed``,
  unknown → ``invalid_auth`` (HTTP 200, ``ok: false``, like Slack);
- a small workspace (users, user groups, channels with members, messages, pins, bookmarks,
  modal views) so calls have the effects and the errors Slack gives (``name_taken``,
  ``channel_not_found``, ``not_in_channel``, ``users_not_found``, ``message_not_found``,
  ``already_pinned``, ``invalid_trigger_id``, ``hash_conflict``...);
- scripted failures: an outage (HTTP 503 for every call), the next N calls failing with a
  status, 429 with ``Retry-After``, an ``ok: false`` error for a method, and connection
  refused (``FakeSlackServer.refusing_connections`` closes the port and reopens it);
- every call recorded in order (method, arguments without the token, time, HTTP status,
  response) for assertions.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.system.servers import free_port

DEFAULT_TOKEN = "xoxb-fake-bot-token"
_CHANNEL_NAME = re.compile(r"^[a-z0-9_\-]+$")
_MAX_TEXT = 40_000


class SlackError(Exception):
    """An ``ok: false`` answer (HTTP 200) with Slack's error code and optional extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass(frozen=True)
class Call:
    method: str
    #: Decoded arguments (query, form or JSON), without the token.
    args: dict[str, Any]
    #: "query", "form" or "json": how the arguments travelled.
    encoding: str
    at: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return str(error) if error is not None else None


@dataclass
class _Scripted:
    method: str | None
    count: int
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str) -> bool:
        return self.count > 0 and (self.method is None or self.method == method)


def _as_bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _as_json(value: Any, error: str = "invalid_arguments") -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


def _csv(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


class FakeSlack:
    """The workspace state and the Web API methods; thread-safe (the server runs in a thread)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        team_id: str = "T0FAKE",
        team_domain: str = "fake-workspace",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> None:
        self.tokens = {token}
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: dict[str, list[dict[str, Any]]] = {}
        self.pins: dict[str, list[str]] = {}
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.down_status: int | None = None
        self._scripted: list[_Scripted] = []
        self._triggers: dict[str, bool] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._lock = threading.RLock()
        self.add_user(bot_user_id, "incident-bot", is_bot=True)

    # -- workspace set-up (test side) ----------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        email: str | None = None,
        real_name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": real_name or name, "display_name": name}
        if email:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real_name or name,
            "tz": "Etc/UTC",
            "is_bot": is_bot,
            "is_admin": False,
            "profile": profile,
        }
        with self._lock:
            self.users[user_id] = user
        return user

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> dict[str, Any]:
        group = {
            "id": group_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": handle.replace("-", " ").title(),
            "handle": handle,
            "date_delete": 0,
            "users": list(users),
            "user_count": len(users),
        }
        with self._lock:
            self.usergroups[group_id] = group
        return group

    def add_channel(
        self, name: str, *, members: tuple[str, ...] = (), bot_member: bool = True, is_private: bool = False
    ) -> str:
        with self._lock:
            channel = self._new_channel(name, is_private=is_private, creator=self.bot_user_id)
            self.members[channel["id"]] = set(members) | ({self.bot_user_id} if bot_member else set())
            return str(channel["id"])

    def new_trigger_id(self) -> str:
        """A trigger id as an interaction payload would carry (usable once)."""
        trigger = f"{next(self._ids)}.{self.team_id}.{int(time.time())}"
        with self._lock:
            self._triggers[trigger] = False
        return trigger

    # -- scripted failures ----------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 503, method: str | None = None) -> None:
        """The next ``count`` calls (of ``method``, or any) answer HTTP ``status``."""
        with self._lock:
            self._scripted.append(_Scripted(method, count, status=status, error="service_unavailable"))

    def rate_limit(self, method: str | None = None, *, retry_after: int = 1, count: int = 1) -> None:
        """The next ``count`` calls answer 429 ``ratelimited`` with ``Retry-After``."""
        with self._lock:
            self._scripted.append(
                _Scripted(method, count, status=429, error="ratelimited", retry_after=retry_after)
            )

    def error_next(self, method: str, error: str, *, count: int = 1, **extra: Any) -> None:
        """The next ``count`` calls of ``method`` answer ``ok: false`` with ``error`` (no effect)."""
        with self._lock:
            self._scripted.append(_Scripted(method, count, error=error, extra=extra))

    @contextlib.contextmanager
    def outage(self, status: int = 503) -> Iterator[None]:
        """Every call answers HTTP ``status`` while the block runs."""
        with self._lock:
            self.down_status = status
        try:
            yield
        finally:
            with self._lock:
                self.down_status = None

    # -- assertions -----------------------------------------------------------------------------

    def calls_to(self, *methods: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if not methods or c.method in methods]

    def ok_calls(self, *methods: str) -> list[Call]:
        return [c for c in self.calls_to(*methods) if c.ok]

    def channel_id(self, name: str) -> str:
        with self._lock:
            for channel in self.channels.values():
                if channel["name"] == name:
                    return str(channel["id"])
        raise KeyError(name)

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages.get(self._channel_ref(channel), []))

    def texts(self, channel: str) -> list[str]:
        return [str(m.get("text", "")) for m in self.channel_messages(channel)]

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

    # -- state helpers ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _new_channel(self, name: str, *, is_private: bool, creator: str) -> dict[str, Any]:
        channel_id = f"C{next(self._ids):08d}"
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "created": int(time.time()),
            "creator": creator,
            "is_archived": False,
            "is_general": False,
            "name_normalized": name,
            "is_shared": False,
            "is_member": True,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def _channel_ref(self, ref: str) -> str:
        """A channel id from an id, a ``#name`` or a name; a user id opens the bot's DM."""
        ref = str(ref)
        if ref in self.channels:
            return ref
        if ref in self.users:
            dm = "D" + ref[1:]
            if dm not in self.channels:
                self.channels[dm] = {"id": dm, "is_im": True, "user": ref, "name": dm}
                self.members[dm] = {ref, self.bot_user_id}
                self.messages[dm] = []
            return dm
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel["name"] == name:
                return str(channel["id"])
        raise SlackError("channel_not_found")

    def _channel_view(self, channel_id: str) -> dict[str, Any]:
        channel = dict(self.channels[channel_id])
        channel["is_member"] = self.bot_user_id in self.members.get(channel_id, set())
        channel["num_members"] = len(self.members.get(channel_id, set()))
        return channel

    def _member_channel(self, ref: str) -> str:
        channel_id = self._channel_ref(ref)
        if self.bot_user_id not in self.members.get(channel_id, set()):
            raise SlackError("not_in_channel")
        return channel_id

    def _find_message(self, channel_id: str, ts: str) -> dict[str, Any]:
        for message in self.messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _blocks(self, args: dict[str, Any]) -> list[dict[str, Any]] | None:
        if "blocks" not in args:
            return None
        blocks = _as_json(args["blocks"], "invalid_blocks_format")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
            raise SlackError("invalid_blocks")
        return blocks

    def _user(self, user_id: str, error: str = "user_not_found") -> dict[str, Any]:
        user = self.users.get(str(user_id))
        if user is None:
            raise SlackError(error)
        return user

    # -- methods ------------------------------------------------------------------------------------

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

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if any(c["name"] == name for c in self.channels.values()):
            raise SlackError("name_taken")
        channel = self._new_channel(
            name, is_private=_as_bool(args.get("is_private")), creator=self.bot_user_id
        )
        self.members[channel["id"]] = {self.bot_user_id}
        return {"channel": self._channel_view(channel["id"])}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        users = _csv(args.get("users"))
        if not users:
            raise SlackError("no_user")
        errors = []
        for user in users:
            if user == self.bot_user_id:
                errors.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user not in self.users:
                errors.append({"user": user, "ok": False, "error": "user_not_found"})
        if errors:
            raise SlackError(str(errors[0]["error"]), errors=errors)
        members = self.members.setdefault(channel_id, set())
        if all(user in members for user in users):
            raise SlackError("already_in_channel")
        members.update(users)
        return {"channel": self._channel_view(channel_id)}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel_ref(args["channel"])
        members = self.members.setdefault(channel_id, set())
        answer: dict[str, Any] = {}
        if self.bot_user_id in members:
            answer = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        members.add(self.bot_user_id)
        return {"channel": self._channel_view(channel_id), **answer}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel_view(self._channel_ref(args["channel"]))}

    def _conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        topic = str(args.get("topic", ""))
        if len(topic) > 250:
            raise SlackError("too_long")
        self.channels[channel_id]["topic"] = {
            "value": topic,
            "creator": self.bot_user_id,
            "last_set": int(time.time()),
        }
        return {"channel": self._channel_view(channel_id)}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        limit = int(args.get("limit") or 100)
        newest_first = list(reversed(self.messages.get(channel_id, [])))
        page = newest_first[:limit]
        return {
            "messages": page,
            "has_more": len(newest_first) > limit,
            "pin_count": len(self.pins.get(channel_id, [])),
            "response_metadata": {"next_cursor": ""},
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        blocks = self._blocks(args)
        text = args.get("text")
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if text and len(str(text)) > _MAX_TEXT:
            raise SlackError("msg_too_long")
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": str(text or ""),
            "ts": self._next_ts(),
            "team": self.team_id,
        }
        if blocks is not None:
            message["blocks"] = blocks
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("metadata"):
            message["metadata"] = _as_json(args["metadata"])
        self.messages[channel_id].append(message)
        return {"channel": channel_id, "ts": message["ts"], "message": dict(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel_ref(args["channel"])
        message = self._find_message(channel_id, str(args["ts"]))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        blocks = self._blocks(args)
        if "text" in args:
            message["text"] = str(args["text"])
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel_id, "ts": message["ts"], "text": message["text"], "message": dict(message)}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        user = str(args["user"])
        self._user(user)
        if user not in self.members.get(channel_id, set()):
            raise SlackError("user_not_in_channel")
        blocks = self._blocks(args)
        if not args.get("text") and not blocks:
            raise SlackError("no_text")
        ts = self._next_ts()
        self.ephemeral.setdefault(channel_id, []).append(
            {"user": user, "text": str(args.get("text", "")), "blocks": blocks, "ts": ts}
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel_ref(args["channel"])
        ts = str(args["message_ts"])
        self._find_message(channel_id, ts)
        return {
            "channel": channel_id,
            "permalink": f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}",
        }

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel"])
        ts = args.get("timestamp")
        if not ts:
            raise SlackError("no_item_specified")
        self._find_message(channel_id, str(ts))
        pins = self.pins.setdefault(channel_id, [])
        if str(ts) in pins:
            raise SlackError("already_pinned")
        pins.append(str(ts))
        return {}

    def _bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._member_channel(args["channel_id"])
        kind = str(args.get("type", ""))
        if kind != "link" or not str(args.get("link", "")).startswith(("http://", "https://")):
            raise SlackError("invalid_link" if kind == "link" else "invalid_type")
        bookmark = {
            "id": f"Bk{next(self._ids):08d}",
            "channel_id": channel_id,
            "title": str(args["title"]),
            "link": str(args["link"]),
            "emoji": args.get("emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": int(time.time()),
            "date_updated": 0,
            "rank": "U",
            "last_updated_by_user_id": self.bot_user_id,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": None,
        }
        self.bookmarks.setdefault(channel_id, []).append(bookmark)
        return {"bookmark": bookmark}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args["email"]).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"user": user}
        raise SlackError("users_not_found")

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._user(args["user"])}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include_users = _as_bool(args.get("include_users"))
        groups = []
        for group in self.usergroups.values():
            item = dict(group)
            if not include_users:
                item.pop("users")
            groups.append(item)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args["usergroup"]))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        if trigger not in self._triggers:
            raise SlackError("invalid_trigger_id")
        if self._triggers[trigger]:
            raise SlackError("exchanged_trigger_id")
        view = self._valid_view(args.get("view"))
        self._triggers[trigger] = True
        view_id = f"V{next(self._ids):08d}"
        stored = self._store_view(view_id, view)
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id is None and args.get("external_id"):
            view_id = next(
                (k for k, v in self.views.items() if v.get("external_id") == args["external_id"]), None
            )
        if view_id not in self.views:
            raise SlackError("not_found")
        current = self.views[str(view_id)]
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._store_view(str(view_id), self._valid_view(args.get("view")))}

    def _valid_view(self, raw: Any) -> dict[str, Any]:
        view = _as_json(raw, "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if view["type"] == "modal" and not isinstance(view.get("title"), dict):
            raise SlackError("invalid_arguments")
        if not isinstance(view.get("blocks", []), list):
            raise SlackError("invalid_blocks")
        return view

    def _store_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{next(self._ids):08d}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": "AFAKE",
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return dict(stored)


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
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``AsyncWebClient(base_url=...)`` / ``slack.api_url`` should be set to."""
        return f"{self.url}/api/"

    def start(self) -> None:
        config = uvicorn.Config(
            self.fake.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the fake Slack API did not start on port {self.port}")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

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
