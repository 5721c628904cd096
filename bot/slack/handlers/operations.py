"""Incident operations shared by commands and buttons: flow → ephemeral answer.

Each runs after the ack. The room itself (card, channel messages) is updated by the projector
from the timeline event the flow records, so these only answer the person who acted.
"""

from __future__ import annotations

from collections.abc import Awaitable

from bot.auth.actor import Actor
from bot.errors import IncidentBotError
from bot.incident import flows, service
from bot.incident.domain import Role, Severity, Status
from bot.incident.schemas import IncidentUpdate
from bot.postmortem.render import render_postmortem
from bot.slack import blocks as bk
from bot.slack.card import card_text, load_card, render_card
from bot.slack.deps import SlackDeps
from bot.slack.replies import Reply

#: Room for the markdown inside one section (3000 characters with the code fence).
POSTMORTEM_PREVIEW = 2900


async def answering_errors(reply: Reply, work: Awaitable[None]) -> None:
    """Run ``work``; a refused or impossible request becomes an ephemeral answer saying why."""
    try:
        await work
    except IncidentBotError as exc:
        await reply.error(exc)


async def show_status(deps: SlackDeps, ref: str, reply: Reply) -> None:
    async with deps.db.session() as session:
        incident = await service.get_incident(session, ref)
        view = await load_card(
            session, incident, public_url=deps.settings.public_url, people=deps.authz.directory
        )
    await reply.say(card_text(view), render_card(view))


async def change_status(
    deps: SlackDeps, actor: Actor, ref: str, status: Status, reason: str | None, reply: Reply
) -> None:
    update = IncidentUpdate(status=status, reason=reason)
    out = await flows.update_incident(deps.db, ref, update, actor, authz=deps.authz)
    await reply.say(f":white_check_mark: {out.ref} is {out.status.value}.")


async def resolve(deps: SlackDeps, actor: Actor, ref: str, reason: str | None, reply: Reply) -> None:
    await change_status(deps, actor, ref, Status.RESOLVED, reason, reply)


async def acknowledge(deps: SlackDeps, actor: Actor, ref: str, reply: Reply) -> None:
    out = await flows.acknowledge(deps.db, ref, actor, authz=deps.authz)
    await reply.say(f":white_check_mark: {out.ref} acknowledged; status {out.status.value}.")


async def change_severity(
    deps: SlackDeps, actor: Actor, ref: str, severity: Severity, reason: str | None, reply: Reply
) -> None:
    update = IncidentUpdate(severity=severity, reason=reason)
    out = await flows.update_incident(deps.db, ref, update, actor, authz=deps.authz)
    await reply.say(f":white_check_mark: {out.ref} is now {out.severity.value}.")


async def assign_role(
    deps: SlackDeps, actor: Actor, ref: str, role: Role, user_id: str, reply: Reply
) -> None:
    change = await flows.assign_role(deps.db, ref, role, user_id, actor, authz=deps.authz)
    who = bk.mention(deps.authz.directory.slack_id(change.assignee) or change.assignee)
    if not change.changed:
        await reply.say(f"{who} already is {role.display} of {ref}.")
    else:
        await reply.say(f":white_check_mark: {who} is now {role.display} of {ref}.")


async def add_note(deps: SlackDeps, actor: Actor, ref: str, text: str, reply: Reply) -> None:
    await flows.add_note(deps.db, ref, text, actor, authz=deps.authz)
    await reply.say(f":memo: Added to the {ref} timeline.")


async def postmortem(deps: SlackDeps, ref: str, reply: Reply) -> None:
    """The draft as an ephemeral preview (markdown in a code block) and a link to all of it."""
    draft = await render_postmortem(deps.db, ref, deps.settings.templates_path)
    url = f"{deps.settings.public_url.rstrip('/')}/api/v1/incidents/{ref}/postmortem"
    preview = bk.truncate(bk.escape(draft), POSTMORTEM_PREVIEW)
    await reply.say(
        f"Postmortem draft of {ref}",
        [
            bk.section(f"*Postmortem draft of {ref}* ({bk.link(url, 'full markdown')})"),
            bk.section(f"```{preview}```"),
        ],
    )
