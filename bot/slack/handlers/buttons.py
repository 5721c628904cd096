"""Card buttons: Acknowledge, Take commander, Resolve. Ack at once, act after the ack.

The incident comes from the button's value (``INC-n``) and permissions are checked on click:
a card that is a few minutes old can still be clicked, and what counts is who may act now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.auth.actor import Actor
from bot.errors import InputError
from bot.incident.domain import Role
from bot.slack.deps import SlackDeps
from bot.slack.handlers import operations as op
from bot.slack.ids import ActionId
from bot.slack.middleware import actor_of, incident_of
from bot.slack.replies import Reply

Act = Callable[[Actor, str, Reply], Awaitable[None]]


def after_ack(deps: SlackDeps, body: dict[str, Any], context: AsyncBoltContext, what: str, act: Act) -> None:
    """Run ``act`` for the clicking person and the button's incident in the background."""
    reply = Reply(body.get("response_url"), what=f"button {what}")
    actor, ref = actor_of(context), incident_of(context)

    async def work() -> None:
        if ref is None:
            raise InputError("this button names no incident", hint="use the buttons of an incident card")
        await act(actor, ref, reply)

    deps.work.spawn(op.answering_errors(reply, work()), name=f"button {what}")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(ActionId.ACKNOWLEDGE.value)
    async def acknowledge_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        after_ack(deps, body, context, "acknowledge", lambda a, ref, r: op.acknowledge(deps, a, ref, r))

    @app.action(ActionId.TAKE_COMMANDER.value)
    async def take_commander_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        after_ack(
            deps,
            body,
            context,
            "take commander",
            lambda a, ref, r: op.assign_role(deps, a, ref, Role.COMMANDER, a.id, r),
        )

    @app.action(ActionId.RESOLVE.value)
    async def resolve_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        after_ack(deps, body, context, "resolve", lambda a, ref, r: op.resolve(deps, a, ref, None, r))
