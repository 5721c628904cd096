"""Middleware of the Slack app: small named units run before every listener, and the guard.

Order (registered in ``app.build_slack_app``): ``attach_actor`` (who), ``parse_command``
(what, for ``/incident``), ``attach_incident`` (which incident: an ``INC-n`` in the command or
button, else the incident whose channel this is). They only read the request and the
database, so the ack stays fast. ``authorize`` runs after the ack (resolving a user group may
call Slack): a refusal is answered ephemerally and written to the audit log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.audit.service import audit
from bot.auth.actor import Actor, Interface
from bot.db import Database
from bot.errors import NotFoundError, PermissionDeniedError
from bot.incident import service
from bot.incident.domain import format_ref, parse_ref
from bot.permissions import GroupResolver, Guarded, PermissionSettings, require
from bot.slack import commands

log = logging.getLogger(__name__)

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


async def attach_actor(context: AsyncBoltContext, body: dict[str, Any], next: Next) -> BoltResponse | None:
    """The person acting, as the core's Actor (Slack user id; interface slack)."""
    if context.user_id:
        context[ACTOR] = Actor(
            id=context.user_id, kind="person", interface=Interface.SLACK, name=_user_name(body)
        )
    return await next()


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


class Guard:
    """Permission checks of the guarded actions; refusals are audited (door: slack)."""

    def __init__(self, db: Database, permissions: PermissionSettings, groups: GroupResolver) -> None:
        self._db = db
        self._permissions = permissions
        self._groups = groups

    async def authorize(self, actor: Actor, ref: str, action: Guarded, *, attempted: str) -> None:
        """Return if ``actor`` may do ``action`` on ``ref``; else audit and raise PermissionDeniedError."""
        async with self._db.session() as session:
            incident = await service.get_incident(session, ref)
            assert incident.id is not None
            roles = await service.current_roles(session, incident.id)
        held = [role.value for role, holder in roles.items() if holder.assignee == actor.id]
        try:
            await require(actor, action, self._permissions, roles_held=held, groups=self._groups)
        except PermissionDeniedError as exc:
            await self.record_refusal(actor, ref, action, attempted=attempted, reason=exc.message)
            raise

    async def record_refusal(
        self, actor: Actor, ref: str, action: Guarded, *, attempted: str, reason: str
    ) -> None:
        async with self._db.transaction() as session:
            try:
                incident = await service.get_incident(session, ref)
                incident_id = incident.id
            except NotFoundError:
                incident_id = None
            audit(
                session,
                actor,
                "slack.permission_denied",
                target_type="incident",
                target_id=ref,
                incident_id=incident_id,
                details={"action": action.value, "attempted": attempted, "reason": reason},
            )
        log.info("refused %s to %s on %s: %s", action.value, actor.id, ref, reason)
