"""Middleware of the Slack app: small named units run before every listener.

Order (registered in ``app.build_slack_app``): ``attach_actor`` (who: the principal behind the
Slack user, through the people directory), ``parse_command`` (what, for ``/incident``),
``attach_incident`` (which incident: an ``INC-n`` in the command or button, else the incident
whose channel this is). They only read the request and the database, so the ack stays fast.
Who may do what is not decided here: the flows authorize (``bot.authz``), the same for every
door; a refusal comes back as an error the handler answers ephemerally.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.auth.actor import Actor
from bot.authz.people import Directory
from bot.db import Database
from bot.errors import PermissionDeniedError
from bot.incident import service
from bot.incident.domain import format_ref, parse_ref
from bot.slack import commands

Next = Callable[[], Awaitable[BoltResponse | None]]

ACTOR = "incident_actor"
COMMAND = "incident_command"
INCIDENT = "incident_ref"


def actor_of(context: AsyncBoltContext) -> Actor:
    actor = context.get(ACTOR)
    if not isinstance(actor, Actor):
        raise PermissionDeniedError("this request names no Slack user", hint="only people can act")
    return actor


def incident_of(context: AsyncBoltContext) -> str | None:
    ref = context.get(INCIDENT)
    return ref if isinstance(ref, str) else None


def _user_name(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("username") or user.get("name")
    name = body.get("user_name")
    return name if isinstance(name, str) else None


def actor_middleware(directory: Directory) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def attach_actor(
        context: AsyncBoltContext, body: dict[str, Any], next: Next
    ) -> BoltResponse | None:
        """The person acting: a configured person with this Slack id, else the Slack user."""
        if context.user_id:
            context[ACTOR] = directory.slack_user(context.user_id, _user_name(body))
        return await next()

    return attach_actor


async def parse_command(context: AsyncBoltContext, body: dict[str, Any], next: Next) -> BoltResponse | None:
    """For ``/incident``: the typed command, or the CommandError describing the bad input."""
    if body.get("command"):
        try:
            context[COMMAND] = commands.parse(str(body.get("text") or ""))
        except commands.CommandError as exc:
            context[COMMAND] = exc
    return await next()


def _ref_in_action(body: dict[str, Any]) -> str | None:
    """Buttons carry their incident in the value: ``INC-4`` or JSON with an ``incident`` key."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return None
    value = str(actions[0].get("value") or "")
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("incident") or "")
        except ValueError:
            return None
    try:
        return format_ref(parse_ref(value))
    except ValueError:
        return None


def incident_middleware(db: Database) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def attach_incident(
        context: AsyncBoltContext, body: dict[str, Any], next: Next
    ) -> BoltResponse | None:
        """The incident this request is about: named explicitly, or the channel's incident."""
        command = context.get(COMMAND)
        ref = command.incident_ref if isinstance(command, commands.Command) else _ref_in_action(body)
        if ref is None and context.channel_id:
            async with db.session() as session:
                incident = await service.find_by_channel(session, context.channel_id)
            ref = incident.ref if incident is not None else None
        if ref is not None:
            context[INCIDENT] = ref
        return await next()

    return attach_incident
