"""The fake workspace's state, its test-side set-up, scripted failures and assertion helpers.

Each Web API family is a subclass of :class:`Workspace` in a module of its own; ``FakeSlack``
(in ``server``) combines them, so every family reads and writes this one state under one lock.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKEN = "xoxb-fake-bot-token"


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


class Workspace:
    """The workspace state shared by every method family; thread-safe (the server runs in a thread)."""

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

    # -- state helpers (shared by the method families) --------------------------------------------

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

    def _user(self, user_id: str, error: str = "user_not_found") -> dict[str, Any]:
        user = self.users.get(str(user_id))
        if user is None:
            raise SlackError(error)
        return user
