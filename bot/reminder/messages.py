"""What reminders say: chat text (Slack mrkdwn mentions) and the paging webhook's JSON body."""

from __future__ import annotations

import re
from typing import Any

from bot.reminder.models import ReminderKind
from bot.reminder.policy import Due, IncidentState

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")


def mention_user(who: str) -> str:
    """``<@U123>`` notifies a Slack user; other names (CLI users, API tokens) stay plain."""
    return f"<@{who}>" if _SLACK_USER.match(who) else who


def _minutes(value: float) -> str:
    return f"{value:g} min"


def chat_text(state: IncidentState, due: Due, oncall: str | None) -> str:
    """The message posted in the incident channel."""
    if due.kind == ReminderKind.STATUS_UPDATE:
        assert state.commander is not None
        return (
            f"{mention_user(state.commander)} reminder: {state.ref} ({state.severity.value}, "
            f"{state.status.value}) has had no status update for {_minutes(due.after_min)}. "
            "Post one with `/incident note <text>` or change the status."
        )
    if due.kind == ReminderKind.COMMANDER_NUDGE:
        prefix = f"{oncall} " if oncall else ""
        return (
            f"{prefix}{state.ref} has no incident commander {_minutes(due.after_min)} after it was declared. "
            "Take it with *Take commander* on the card or `/incident role commander @you`."
        )
    prefix = f"{oncall} " if oncall else ""
    return (
        f"{prefix}:rotating_light: {state.ref} ({state.severity.value}) is still unacknowledged "
        f"{_minutes(due.after_min)} after it was declared: {state.title}. Acknowledge it on the card."
    )


def timeline_text(state: IncidentState, due: Due, oncall: str | None, paging: bool) -> str:
    if due.kind == ReminderKind.STATUS_UPDATE:
        return f"Reminded {state.commander} to post a status update (none for {_minutes(due.after_min)})"
    if due.kind == ReminderKind.COMMANDER_NUDGE:
        return f"No incident commander after {_minutes(due.after_min)}; nudged the responders"
    who = f"the on-call group {oncall}" if oncall else "the responders"
    how = " and the paging webhook" if paging else ""
    return f"Escalated: unacknowledged after {_minutes(due.after_min)}; alerted {who}{how}"


def page_body(state: IncidentState, due: Due, oncall_group: str | None, public_url: str) -> dict[str, Any]:
    """JSON body of the paging webhook call. ``dedup_key`` lets the receiver drop repeats."""
    return {
        "event": "incident.escalated",
        "dedup_key": due.key,
        "incident": state.ref,
        "title": state.title,
        "severity": state.severity.value,
        "status": state.status.value,
        "declared_at": state.declared_at.isoformat(),
        "unacknowledged_for_min": due.after_min,
        "oncall_group": oncall_group,
        "url": f"{public_url.rstrip('/')}/api/v1/incidents/{state.ref}",
        "summary": f"{state.ref} ({state.severity.value}) unacknowledged: {state.title}",
    }
