"""The calls that make an incident room, enqueued in the projector's transaction.

All of an incident's calls share its outbox lane, so Slack sees them in the order they were
decided: the channel before the invites, the card before its pin, the card before updates.
Nothing here talks to Slack; lookups (emails, user groups) are outbox calls too, finished by
result handlers (``room.results``), so a transaction never waits on the network.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.authz.people import Directory
from bot.chat.outbox import enqueue, incident_lane
from bot.incident.models import Incident
from bot.slack import blocks as bk
from bot.slack.card import card_text, load_card, render_card
from bot.slack.models import SlackRoom
from bot.slack.naming import channel_name
from bot.slack.room import keys
from bot.slack.room.messages import announcement

CHANNEL = "$incident_channel"
CARD_TS = "$card_ts"

# Result handler names (registered by room.results).
CHANNEL_CREATED = "room.channel_created"
CARD_POSTED = "room.card_posted"
BENIGN = "room.benign_errors"
EMAIL_FOR_INVITE = "room.email_for_invite"
GROUP_FOR_INVITE = "room.group_for_invite"
GROUP_FOR_APPROVAL = "room.group_for_approval"


class RoomWriter:
    def __init__(
        self,
        session: AsyncSession,
        incident: Incident,
        room: SlackRoom,
        *,
        pattern: str,
        public_url: str,
        broadcast_channel: str | None,
        runbooks: tuple[str, ...] = (),
        people: Directory | None = None,
    ) -> None:
        assert incident.id is not None
        self.session = session
        self.incident = incident
        self.incident_id: int = incident.id
        self.room = room
        self.pattern = pattern
        self.public_url = public_url
        self.broadcast_channel = broadcast_channel
        self.runbooks = runbooks
        self.people = people or Directory()
        self.card_posted_now = False

    def reachable(self, principal: str) -> str:
        """Where to reach a principal in Slack: a configured person's Slack id, else as given."""
        return self.people.slack_id(principal) or principal

    @property
    def channel(self) -> str | None:
        return self.incident.chat_channel_id

    async def call(
        self,
        method: str,
        payload: dict[str, Any],
        *key_parts: str | int,
        on_result: str | None = None,
        coalesce_key: str | None = None,
        lane: str | None = None,
    ) -> None:
        await enqueue(
            self.session,
            method=method,
            payload=payload,
            lane=lane or incident_lane(self.incident_id),
            incident_id=self.incident_id,
            dedupe_key=keys.key(self.incident_id, *key_parts) if key_parts else None,
            coalesce_key=coalesce_key,
            on_result=on_result,
        )

    async def create_channel(self) -> None:
        """conversations.create with the next name (``-2``, ``-3``... after name_taken)."""
        self.room.name_attempt += 1
        name = channel_name(
            self.pattern,
            number=self.incident_id,
            title=self.incident.title,
            severity=self.incident.severity,
            declared_at=self.incident.declared_at,
            attempt=self.room.name_attempt,
        )
        await self.call(
            "conversations.create",
            {"name": name, "is_private": False},
            "create",
            self.room.name_attempt,
            on_result=CHANNEL_CREATED,
        )

    async def open_room(self, people: list[str]) -> None:
        """Invites, the card (pinned by its result handler) and the announcements."""
        for person in dict.fromkeys(people):
            await self.invite(person)
        await self.post_card()
        assert self.channel is not None
        news = announcement(
            self.incident.ref,
            self.incident.title,
            self.incident.severity,
            self.channel,
            self.incident.declared_by,
        )
        for target in dict.fromkeys(c for c in (self.broadcast_channel, self.incident.notify_channel) if c):
            await self.call("chat.postMessage", {"channel": target, **news}, "announce", target)

    async def invite(self, person: str) -> None:
        """A user id, an email (looked up first) or a user group (@handle or S-id; expanded first);
        a configured person by their Slack id."""
        person = self.reachable(person.strip())
        if not person or self.channel is None:
            return
        if bk.is_user_id(person):
            await self.call(
                "conversations.invite",
                {"channel": self.channel, "users": person},
                "invite",
                person,
                on_result=BENIGN,
            )
        elif "@" in person[1:]:
            await self.call(
                "users.lookupByEmail", {"email": person}, "email", person, on_result=EMAIL_FOR_INVITE
            )
        elif bk.is_group(person):
            await self.call(
                "usergroups.list", {"include_users": True}, "group", person, on_result=GROUP_FOR_INVITE
            )

    async def card_payload(self) -> dict[str, Any]:
        view = await load_card(
            self.session,
            self.incident,
            public_url=self.public_url,
            runbooks=self.runbooks,
            people=self.people,
        )
        return {"text": card_text(view), "blocks": render_card(view)}

    async def post_card(self) -> None:
        payload = {"channel": self.channel, **await self.card_payload()}
        await self.call("chat.postMessage", payload, "card", on_result=CARD_POSTED)
        self.card_posted_now = True

    async def update_card(self) -> None:
        """chat.update of the pinned card; a pending update is replaced (rapid changes coalesce)."""
        if self.card_posted_now or self.channel is None:
            return
        payload = {"channel": self.channel, "ts": CARD_TS, **await self.card_payload()}
        await self.call("chat.update", payload, coalesce_key=keys.card_coalesce_key(self.incident_id))

    async def post(self, message: dict[str, Any], *key_parts: str | int) -> None:
        if self.channel is not None:
            await self.call("chat.postMessage", {"channel": self.channel, **message}, *key_parts)

    async def direct_message(self, user_id: str, message: dict[str, Any], *key_parts: str | int) -> None:
        """chat.postMessage to a user id: Slack delivers it in the bot's DM with them. Its own
        lane: a checklist or an approval request need not wait for the channel."""
        user_id = self.reachable(user_id)
        if bk.is_user_id(user_id):
            await self.call(
                "chat.postMessage", {"channel": user_id, **message}, *key_parts, lane=f"dm:{user_id}"
            )
