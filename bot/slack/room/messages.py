"""Channel messages for incident timeline events: one short line per change people must see.

The card shows the current state; these lines say what happened and who did it, so the
channel reads as a log. Events that only the card needs (alerts, summary edits) or that are
already in the channel (captured messages) produce nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.incident.domain import Role, Status
from bot.incident.models import TimelineEvent
from bot.runbook.kinds import Kind
from bot.slack import blocks as bk
from bot.slack.card import STATUS_EMOJI
from bot.slack.ids import CAPTURED_MESSAGE_SOURCE

#: Kinds whose change the card shows (anything else leaves the card as it is).
CARD_UNCHANGED = frozenset({"note", "channel_created", "chat_error"})


def changes_card(event: TimelineEvent) -> bool:
    # A skipped auto-run offers its runbook among the card's suggestions.
    offered = event.kind == Kind.AUTO_RUN_SKIPPED and bool(event.data.get("offered"))
    return offered or (event.kind not in CARD_UNCHANGED and not event.kind.startswith("runbook_"))


def _by(event: TimelineEvent) -> str:
    return f" by {bk.mention(event.actor)}" if event.interface != "system" else ""


def _reason(event: TimelineEvent) -> str:
    reason = event.data.get("reason")
    return f": {bk.escape(str(reason))}" if reason else ""


def _status(event: TimelineEvent) -> str:
    to = Status(str(event.data.get("to")))
    if event.kind == "reopened":
        return f":leftwards_arrow_with_hook: Reopened{_by(event)}{_reason(event)}"
    return f"{STATUS_EMOJI[to]} Status {event.data.get('from')} → *{to.value}*{_by(event)}{_reason(event)}"


def _as_is(principal: str) -> str:
    return principal


def _role(event: TimelineEvent, reach: Callable[[str], str]) -> str:
    role = Role(str(event.data.get("role")))
    assignee = bk.mention(reach(str(event.data.get("assignee"))))
    if event.kind == "role_handover":
        previous = bk.mention(reach(str(event.data.get("previous"))))
        return f":busts_in_silhouette: {role.display} handed over from {previous} to {assignee}{_by(event)}"
    return f":bust_in_silhouette: {assignee} is {role.display}{_by(event)}"


def channel_line(event: TimelineEvent, reach: Callable[[str], str] = _as_is) -> str | None:
    """The line to post in the incident channel for ``event``, or None. ``reach`` turns a
    principal id (a role's holder) into what Slack mentions (a configured person's Slack id)."""
    kind = event.kind
    if kind in ("status_changed", "reopened"):
        return _status(event)
    if kind == "severity_changed":
        change = f"{event.data.get('from')} → *{event.data.get('to')}*"
        return f":rotating_light: Severity {change}{_by(event)}{_reason(event)}"
    if kind == "acknowledged":
        return f":eyes: Acknowledged{_by(event)}"
    if kind in ("role_assigned", "role_handover"):
        return _role(event, reach)
    if kind == "title_changed":
        return f":pencil2: Title: {bk.escape(str(event.data.get('to')))}{_by(event)}"
    if kind == "note" and event.data.get("source") != CAPTURED_MESSAGE_SOURCE:
        return f":memo: {bk.escape(event.text)} ({bk.mention(event.actor)})"
    return None


def text_message(line: str) -> dict[str, Any]:
    return bk.message(line, [bk.section(line)])


def announcement(ref: str, title: str, severity: str, channel_id: str, declared_by: str) -> dict[str, Any]:
    line = (
        f":rotating_light: *{ref}* ({severity}) {bk.escape(title)}: join {bk.channel_link(channel_id)}"
        f" · declared by {bk.mention(declared_by)}"
    )
    return bk.message(f"{ref} ({severity}) {title}", [bk.section(line)])
