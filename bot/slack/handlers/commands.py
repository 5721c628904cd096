"""``/incident``: ack at once (help and bad input are answered in the ack), work after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.actor import Actor
from bot.slack import commands as c
from bot.slack.blocks import escape
from bot.slack.deps import SlackDeps
from bot.slack.handlers import operations as op
from bot.slack.handlers import runbooks as rb
from bot.slack.handlers.declare import open_declare_modal
from bot.slack.ids import COMMAND
from bot.slack.middleware import COMMAND as PARSED
from bot.slack.middleware import actor_of, incident_of
from bot.slack.replies import Reply

NOT_AN_INCIDENT_CHANNEL = (
    ":information_source: This is not an incident channel: name the incident, e.g. `/incident status INC-42`."
)

Runner = Callable[[SlackDeps, Any, Actor, str, Reply], Awaitable[None]]


def _incident_runners() -> dict[type[c.Command], Runner]:
    """The work of each command that acts on one incident."""
    return {
        c.ShowStatus: lambda d, cmd, a, ref, r: op.show_status(d, ref, r),
        c.ChangeStatus: lambda d, cmd, a, ref, r: op.change_status(d, a, ref, cmd.status, cmd.reason, r),
        c.Acknowledge: lambda d, cmd, a, ref, r: op.acknowledge(d, a, ref, r),
        c.ChangeSeverity: lambda d, cmd, a, ref, r: op.change_severity(
            d, a, ref, cmd.severity, cmd.reason, r
        ),
        c.AssignRole: lambda d, cmd, a, ref, r: op.assign_role(d, a, ref, cmd.role, cmd.user_id or a.id, r),
        c.AddNote: lambda d, cmd, a, ref, r: op.add_note(d, a, ref, cmd.text, r),
        c.Resolve: lambda d, cmd, a, ref, r: op.resolve(d, a, ref, cmd.reason, r),
        c.Postmortem: lambda d, cmd, a, ref, r: op.postmortem(d, ref, r),
        c.RunbookSuggested: lambda d, cmd, a, ref, r: rb.suggested(d, ref, r),
        c.RunbookPlan: lambda d, cmd, a, ref, r: rb.plan(d, a, ref, cmd.name, cmd.inputs, r),
        c.RunbookRun: lambda d, cmd, a, ref, r: rb.run(d, a, ref, cmd.name, cmd.inputs, r),
        c.Approve: lambda d, cmd, a, ref, r: rb.approve(d, a, ref, cmd.run_id, r),
        c.Deny: lambda d, cmd, a, ref, r: rb.deny(d, a, ref, cmd.run_id, cmd.reason, r),
        c.CancelRun: lambda d, cmd, a, ref, r: rb.cancel(d, a, ref, cmd.run_id, r),
        c.UndoRun: lambda d, cmd, a, ref, r: rb.undo(d, a, ref, cmd.run_id, r),
    }


def register(app: AsyncApp, deps: SlackDeps) -> None:
    runners = _incident_runners()

    @app.command(COMMAND)
    async def incident_command(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        command = context.get(PARSED)
        if isinstance(command, c.CommandError):
            await ack(text=c.help_text(f":warning: {escape(str(command))}"), response_type="ephemeral")
            return
        if not isinstance(command, c.Command) or isinstance(command, c.Help):
            await ack(text=c.help_text(), response_type="ephemeral")
            return
        ref = incident_of(context)
        if command.needs_incident and ref is None:
            await ack(text=c.help_text(NOT_AN_INCIDENT_CHANNEL), response_type="ephemeral")
            return
        await ack()
        actor = actor_of(context)
        reply = Reply(body.get("response_url"), what=f"/incident {type(command).__name__}")
        work: Awaitable[None]
        if isinstance(command, c.RunbookList):
            work = rb.list_all(deps, reply)
        elif isinstance(command, c.Declare):
            work = open_declare_modal(
                client,
                str(body.get("trigger_id")),
                command.title,
                response_url=body.get("response_url"),
                channel_id=context.channel_id,
            )
        else:
            assert ref is not None
            work = runners[type(command)](deps, command, actor, ref, reply)
        deps.work.spawn(op.answering_errors(reply, work), name=f"command {type(command).__name__}")
