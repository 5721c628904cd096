"""``conversations.*`` and the channel-scoped ``pins.add`` and ``bookmarks.add``."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes.slack_api.workspace import SlackError, Workspace, _as_bool

_CHANNEL_NAME = re.compile(r"^[a-z0-9_\-]+$")


def _csv(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


class ConversationsMethods(Workspace):
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

    # Pins and bookmarks are families of their own in Slack, but each is one method that acts
    # on a channel the bot is in, so they sit with the channels.

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
