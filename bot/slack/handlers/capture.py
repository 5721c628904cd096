"""Messages into the timeline: the "Add to incident timeline" shortcut and the timeline emoji.

Both record a note on the channel's incident with the message text and where it came from
(channel, ts, author, permalink). A message is captured once, however often it is
shortcut or reacted to. Reactions outside incident channels or with other emoji are ignored.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.actor import Actor
from bot.authz.actions import Action
from bot.authz.policy import Target
from bot.errors import InputError, IntegrationError
from bot.incident import service, timeline
from bot.slack.deps import SlackDeps
from bot.slack.handlers.operations import answering_errors
from bot.slack.ids import CAPTURED_MESSAGE_SOURCE, CallbackId
from bot.slack.middleware import actor_of, incident_of
from bot.slack.replies import Reply

log = logging.getLogger(__name__)


async def capture(
    deps: SlackDeps,
    actor: Actor,
    ref: str,
    *,
    channel: str,
    ts: str,
    text: str,
    author: str | None,
    permalink: str | None,
) -> bool:
    """Record the message as a note (who captures it needs permission to add notes); False if
    it already is on the timeline."""
    async with deps.authz.audited(deps.db), deps.db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        await deps.authz.authorize(session, actor, Action.NOTE, Target.of_incident(incident))
        assert incident.id is not None
        notes = await timeline.list_events(session, incident.id, kinds=["note"], limit=100_000)
        if any(
            n.data.get("source") == CAPTURED_MESSAGE_SOURCE
            and n.data.get("channel") == channel
            and n.data.get("ts") == ts
            for n in notes
        ):
            return False
        body = html.unescape(text).strip() or "(a message without text)"
        await service.add_note(
            session,
            incident,
            body,
            actor,
            data={
                "source": CAPTURED_MESSAGE_SOURCE,
                "channel": channel,
                "ts": ts,
                "author": author,
                "permalink": permalink,
            },
        )
    return True


async def permalink_of(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    try:
        response = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as exc:
        log.info("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
        return None
    link = response.get("permalink")
    return str(link) if link else None


async def fetch_message(client: AsyncWebClient, channel: str, ts: str) -> dict[str, Any]:
    """The message at ``ts`` (a reaction event carries only its coordinates)."""
    try:
        response = await client.conversations_history(
            channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise IntegrationError(
            f"Slack conversations.history on {channel}: {error}",
            system="slack",
            call="conversations.history",
            hint="check that the bot is in the channel and has the channels:history scope",
        ) from None
    for message in response.get("messages") or []:
        if message.get("ts") == ts:
            return dict(message)
    raise InputError(f"message {ts} is not in {channel} any more")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.message_shortcut(CallbackId.ADD_TO_TIMELINE.value)
    async def add_to_timeline(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        reply = Reply(body.get("response_url"), what="add to timeline")
        actor, ref = actor_of(context), incident_of(context)
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or context.channel_id)

        async def work() -> None:
            if ref is None:
                raise InputError(
                    "this channel is not an incident channel",
                    hint="use the shortcut on messages in the incident's channel",
                )
            ts = str(message.get("ts"))
            added = await capture(
                deps,
                actor,
                ref,
                channel=channel,
                ts=ts,
                text=str(message.get("text") or ""),
                author=message.get("user"),
                permalink=await permalink_of(client, channel, ts),
            )
            await reply.say(
                f":memo: Added to the {ref} timeline." if added else f"Already on the {ref} timeline."
            )

        deps.work.spawn(answering_errors(reply, work()), name="shortcut add to timeline")

    @app.event("reaction_added")
    async def reaction_added(
        event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        item = event.get("item") or {}
        ref = incident_of(context)
        if event.get("reaction") != deps.settings.slack.timeline_emoji or item.get("type") != "message":
            return
        if ref is None:
            return
        actor = actor_of(context)
        channel, ts = str(item.get("channel")), str(item.get("ts"))
        reply = Reply(None, what=f"reaction on {channel}/{ts}")

        async def work() -> None:
            message = await fetch_message(client, channel, ts)
            await capture(
                deps,
                actor,
                ref,
                channel=channel,
                ts=ts,
                text=str(message.get("text") or ""),
                author=message.get("user"),
                permalink=await permalink_of(client, channel, ts),
            )

        deps.work.spawn(answering_errors(reply, work()), name="reaction capture")
