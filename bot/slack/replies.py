"""Answers to the person who clicked or typed: ephemeral, through the interaction's response_url.

Replies are not room messages: they are for one person, short-lived, and Slack gives each
interaction a ``response_url`` that works in any channel (the bot need not be a member), so
they bypass the outbox. Everything the room sees goes through the outbox instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.errors import IncidentBotError
from bot.slack.blocks import Block, escape

log = logging.getLogger(__name__)


class Reply:
    """Ephemeral answers for one interaction; without a response_url they are only logged."""

    def __init__(self, response_url: str | None, *, what: str) -> None:
        self._respond = AsyncRespond(response_url=response_url) if response_url else None
        self._what = what
        self.sent: list[dict[str, Any]] = []

    @property
    def can_answer(self) -> bool:
        return self._respond is not None

    async def say(self, text: str, blocks: list[Block] | None = None, *, replace: bool = False) -> None:
        message: dict[str, Any] = {"text": text, "response_type": "ephemeral"}
        if blocks:
            message["blocks"] = blocks
        if replace:
            message["replace_original"] = True
        self.sent.append(message)
        if self._respond is None:
            log.info("%s: %s", self._what, text)
            return
        try:
            response = await self._respond(**message)
        except Exception as exc:  # a lost reply must not undo the work that was done
            log.warning("%s: could not answer through response_url: %s", self._what, type(exc).__name__)
            return
        if response.status_code != 200:
            log.warning("%s: response_url answered HTTP %s", self._what, response.status_code)

    async def error(self, exc: IncidentBotError) -> None:
        text = f":warning: {escape(exc.message)}"
        if exc.hint:
            text += f"\n_{escape(exc.hint)}_"
        await self.say(text)
