"""Outbox result handlers and the payload resolver of the room.

Handlers run in the outbox worker's transaction with Slack's answer: they record what Slack
created (channel id via ``set_chat_channel``, card ts) and enqueue follow-ups (next channel
name after ``name_taken``, the pin, invites after a lookup). Refusals that people must know
about become ``chat_error`` timeline events; expected answers (``already_in_channel``,
``already_pinned``) are accepted quietly.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.auth.actor import SYSTEM
from bot.chat.outbox import OutboxHooks, OutboxMessage, RetryLater
from bot.incident import service, timeline
from bot.incident.models import Incident
from bot.runtime import Runtime
from bot.slack.models import RoomState, SlackRoom
from bot.slack.room import keys
from bot.slack.room.runbook_messages import send_approval_requests
from bot.slack.room.writer import (
    BENIGN,
    CARD_POSTED,
    CARD_TS,
    CHANNEL,
    CHANNEL_CREATED,
    EMAIL_FOR_INVITE,
    GROUP_FOR_APPROVAL,
    GROUP_FOR_INVITE,
    RoomWriter,
)

log = logging.getLogger(__name__)

#: Give up on a channel after this many taken names (inc-42-x, inc-42-x-2 ... -20).
MAX_NAME_ATTEMPTS = 20
#: Answers that mean "already done".
BENIGN_ERRORS = frozenset({"already_in_channel", "already_pinned", "cant_invite_self", "already_reacted"})


class RoomResults:
    def __init__(self, runtime: Runtime) -> None:
        self._settings = runtime.settings
        self._people = runtime.authz.directory

    def register(self, hooks: OutboxHooks) -> None:
        hooks.register_result_handler(CHANNEL_CREATED, self.channel_created)
        hooks.register_result_handler(CARD_POSTED, self.card_posted)
        hooks.register_result_handler(BENIGN, self.benign)
        hooks.register_result_handler(EMAIL_FOR_INVITE, self.email_for_invite)
        hooks.register_result_handler(GROUP_FOR_INVITE, self.group_for_invite)
        hooks.register_result_handler(GROUP_FOR_APPROVAL, self.group_for_approval)
        hooks.register_payload_resolver(resolve_placeholders)

    async def _context(self, session: AsyncSession, message: OutboxMessage) -> tuple[Incident, SlackRoom]:
        assert message.incident_id is not None, f"room call {message.id} has no incident"
        incident = await service.get_incident(session, message.incident_id, for_update=True)
        room = await session.get(SlackRoom, message.incident_id)
        assert room is not None, f"no room for incident {message.incident_id}"
        return incident, room

    def _writer(self, session: AsyncSession, incident: Incident, room: SlackRoom) -> RoomWriter:
        return RoomWriter(
            session,
            incident,
            room,
            pattern=self._settings.slack.channel_name_pattern,
            public_url=self._settings.public_url,
            broadcast_channel=self._settings.slack.broadcast_channel,
            people=self._people,
        )

    async def channel_created(
        self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]
    ) -> None:
        incident, room = await self._context(session, message)
        if response.get("ok"):
            channel = response["channel"]
            await service.set_chat_channel(
                session, incident, str(channel["id"]), str(channel["name"]), SYSTEM
            )
            return
        error = str(response.get("error"))
        if error == "name_taken" and room.name_attempt < MAX_NAME_ATTEMPTS:
            await self._writer(session, incident, room).create_channel()
        else:
            room.state = RoomState.FAILED
            await chat_error(
                session,
                incident,
                f"Slack did not create the incident channel {message.payload.get('name')!r}: {error}",
                hint="check the app's channels:manage scope and the channel name pattern",
                error=error,
            )
        session.add(room)

    async def card_posted(
        self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]
    ) -> None:
        incident, room = await self._context(session, message)
        if not response.get("ok"):
            await chat_error(
                session, incident, f"Slack did not post the incident card: {response.get('error')}"
            )
            return
        room.card_ts, room.card_channel = str(response["ts"]), str(response["channel"])
        session.add(room)
        await self._writer(session, incident, room).call(
            "pins.add", {"channel": room.card_channel, "timestamp": room.card_ts}, "pin", on_result=BENIGN
        )

    async def benign(self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]) -> None:
        error = response.get("error")
        if not response.get("ok") and error not in BENIGN_ERRORS:
            log.warning("Slack %s for incident %s answered %s", message.method, message.incident_id, error)

    async def email_for_invite(
        self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]
    ) -> None:
        incident, room = await self._context(session, message)
        email = str(message.payload.get("email"))
        if not response.get("ok"):
            await chat_error(
                session,
                incident,
                f"Could not invite {email}: Slack has no user with that email",
                error=response.get("error"),
            )
            return
        await self._writer(session, incident, room).invite(str(response["user"]["id"]))

    async def group_for_invite(
        self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]
    ) -> None:
        incident, room = await self._context(session, message)
        group = keys.parts(message.dedupe_key)[-1]
        members = _members(response, group)
        if members is None:
            await chat_error(session, incident, f"Could not invite user group {group}: not found in Slack")
            return
        writer = self._writer(session, incident, room)
        for user in members:
            await writer.invite(user)

    async def group_for_approval(
        self, session: AsyncSession, message: OutboxMessage, response: dict[str, Any]
    ) -> None:
        incident, room = await self._context(session, message)
        part = keys.parts(message.dedupe_key)
        event_id, group = int(part[1]), part[-1]
        members = _members(response, group)
        if members is None:
            await chat_error(
                session, incident, f"Could not ask user group {group} for approval: not found in Slack"
            )
            return
        await send_approval_requests(self._writer(session, incident, room), event_id, members)


def _members(response: dict[str, Any], group: str) -> list[str] | None:
    """Members of ``group`` (``@handle`` or id) in a usergroups.list answer, or None if absent."""
    if not response.get("ok"):
        return None
    for item in response.get("usergroups") or []:
        if group in (f"@{item.get('handle')}", item.get("id")):
            return [str(u) for u in item.get("users") or []]
    return None


async def chat_error(session: AsyncSession, incident: Incident, text: str, **data: Any) -> None:
    """Put a chat failure people must know about on the timeline (the card does not show it)."""
    await timeline.record(session, incident, kind="chat_error", text=text, actor=SYSTEM, data=data)


async def resolve_placeholders(session: AsyncSession, message: OutboxMessage) -> dict[str, Any]:
    """Fill ``$incident_channel`` and ``$card_ts`` from current rows; wait while they are unknown."""
    payload = dict(message.payload)
    wanted = {k for k, v in payload.items() if v in (CHANNEL, CARD_TS)}
    if not wanted or message.incident_id is None:
        return payload
    incident = await session.get(Incident, message.incident_id)
    room = await session.get(SlackRoom, message.incident_id)
    for name in wanted:
        value = incident.chat_channel_id if payload[name] == CHANNEL and incident else None
        if payload[name] == CARD_TS:
            value = room.card_ts if room else None
        if value is None:
            raise RetryLater(f"{payload[name]} of incident {message.incident_id} is not known yet")
        payload[name] = value
    return payload
