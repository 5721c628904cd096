"""``chat.*``: posting, updating and linking to messages, and ephemeral messages."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.slack_api.workspace import SlackError, Workspace, _as_json

_MAX_TEXT = 40_000


class ChatMethods(Workspace):
    def _next_ts(self) -> str:
        # Strictly increasing, so two posts in the same microsecond still get distinct ``ts`` keys.
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _blocks(self, args: dict[str, Any]) -> list[dict[str, Any]] | None:
        if "blocks" not in args:
            return None
        blocks = _as_json(args["blocks"], "invalid_blocks_format")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
            raise SlackError("invalid_blocks")
        return blocks

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
