"""Runbook news in the room, rendered from the runbook engine's timeline events.

Plans (dry runs), approval requests, step progress and results appear in the incident channel
as one line each (with before → after where the engine recorded it). Approve/Deny buttons go
only to the allowed approvers, privately: user ids directly, user groups expanded through
``usergroups.list``, ``role:<name>`` to the current holder; ``*`` (anyone) puts the buttons in
the channel. Clicks are checked again (``handlers.runbooks``), so a forwarded button is no key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.incident import service
from bot.incident.domain import Role
from bot.incident.models import TimelineEvent
from bot.runbook.explain import explain
from bot.runbook.kinds import Kind
from bot.slack import blocks as bk
from bot.slack.card import slack_date
from bot.slack.ids import ActionId, BlockId
from bot.slack.room.writer import GROUP_FOR_APPROVAL, RoomWriter

ROLE_NAMES = frozenset(role.value for role in Role)
EMOJI: dict[str, str] = {
    Kind.DRY_RUN: ":clipboard:",
    Kind.APPROVAL_REQUESTED: ":raised_hand:",
    Kind.APPROVED: ":+1:",
    Kind.DENIED: ":no_entry:",
    Kind.APPROVAL_EXPIRED: ":hourglass:",
    Kind.STARTED: ":arrow_forward:",
    Kind.RESUMED: ":arrow_forward:",
    Kind.STEP_RESTARTED: ":arrows_counterclockwise:",
    Kind.STEP_RETRYING: ":repeat:",
    Kind.STEP_SUCCEEDED: ":white_check_mark:",
    Kind.STEP_FAILED: ":x:",
    Kind.STEP_SKIPPED: ":fast_forward:",
    Kind.SUCCEEDED: ":tada:",
    Kind.FAILED: ":boom:",
    Kind.CANCEL_REQUESTED: ":octagonal_sign:",
    Kind.CANCELLED: ":heavy_multiplication_x:",
    Kind.UNDO_STARTED: ":leftwards_arrow_with_hook:",
    Kind.STEP_UNDONE: ":leftwards_arrow_with_hook:",
    Kind.UNDO_FAILED: ":boom:",
    Kind.UNDONE: ":leftwards_arrow_with_hook:",
    Kind.AUTO_RUN_REFUSED: ":no_entry_sign:",
    Kind.AUTO_RUN_SKIPPED: ":information_source:",
}
#: Kinds the channel does without: the next event says it better (thread spam is a complaint).
QUIET = frozenset({Kind.REQUESTED.value, Kind.STEP_STARTED.value})


def run_value(ref: str, run: Any) -> str:
    return json.dumps({"incident": ref, "run": run}, separators=(",", ":"))


def _change(data: dict[str, Any]) -> str | None:
    if "before" not in data and "after" not in data:
        return None
    before = json.dumps(data.get("before"), default=str)
    after = json.dumps(data.get("after"), default=str)
    return bk.truncate(f"before `{bk.escape(before)}` → after `{bk.escape(after)}`", 1900)


def _plan_steps(data: dict[str, Any]) -> list[str]:
    """A dry run's ``steps`` or an approval request's ``plan``: one line per planned step."""
    steps = data.get("steps", data.get("plan"))
    if not isinstance(steps, list):
        return []
    lines = []
    for step in steps[:20]:
        if isinstance(step, dict):
            name = bk.escape(str(step.get("step") or "?"))
            line = f"• `{name}` {bk.escape(str(step.get('summary') or ''))}".rstrip()
            if step.get("error"):
                line += f" :warning: {bk.escape(str(step['error']))}"
            why = explain(step.get("details") if isinstance(step.get("details"), dict) else None)
            if why:
                line += f"\n    _{bk.escape(why)}_"
            lines.append(line)
    return lines


def _expires(data: dict[str, Any]) -> str:
    raw = data.get("expires_at")
    try:
        return f" · expires {slack_date(datetime.fromisoformat(str(raw)))}" if raw else ""
    except ValueError:
        return ""


def event_blocks(event: TimelineEvent) -> list[bk.Block]:
    """The channel message blocks of a runbook event."""
    emoji = EMOJI.get(event.kind, ":gear:")
    out = [bk.section(f"{emoji} {bk.escape(event.text)}")]
    details = [*_plan_steps(event.data)]
    if change := _change(event.data):
        details.append(change)
    if event.kind == Kind.APPROVAL_REQUESTED:
        details.append(f"Approvers: {_approvers_text(event.data.get('approvers'))}{_expires(event.data)}")
    if details:
        out.append(bk.section("\n".join(details)))
    out.append(bk.context(f"{event.data.get('runbook', 'runbook')} · run {event.data.get('run', '?')}"))
    return out


def _approvers_text(approvers: Any) -> str:
    if not isinstance(approvers, list) or not approvers:
        return "_none configured_"
    shown = []
    for principal in approvers:
        text = str(principal)
        if text == "*":
            shown.append("anyone")
        elif text.startswith("role:"):
            shown.append(f"the {text[5:]}")
        elif bk.is_group(text) and text.startswith("S"):
            shown.append(f"<!subteam^{text}>")
        else:
            shown.append(bk.mention(text))
    return ", ".join(shown)


def approval_buttons(ref: str, run: Any) -> bk.Block:
    value = run_value(ref, run)
    return bk.actions(
        BlockId.APPROVAL_ACTIONS.value,
        bk.button("Approve", ActionId.RUN_APPROVE, value, style="primary"),
        bk.button("Deny", ActionId.RUN_DENY, value, style="danger"),
    )


def approval_request(ref: str, event: TimelineEvent) -> dict[str, Any]:
    """The private approval request: what would run, and the buttons."""
    data = event.data
    intro = f":raised_hand: Your approval is requested on {ref}: {bk.escape(event.text)}{_expires(data)}"
    blocks = [bk.section(intro), *event_blocks(event)[1:-1], approval_buttons(ref, data.get("run"))]
    return bk.message(f"Approval requested on {ref}: {event.text}", blocks)


async def send_approval_requests(writer: RoomWriter, event_id: int, users: list[str]) -> None:
    event = await writer.session.get(TimelineEvent, event_id)
    if event is None:
        return
    message = approval_request(writer.incident.ref, event)
    for user in dict.fromkeys(users):
        await writer.direct_message(user, message, "evt", event_id, "approval", user)


async def apply_runbook_event(writer: RoomWriter, event: TimelineEvent) -> None:
    assert event.id is not None
    if event.kind in QUIET:
        return
    ref = writer.incident.ref
    blocks = event_blocks(event)
    approvers = event.data.get("approvers") if event.kind == Kind.APPROVAL_REQUESTED else None
    anyone = isinstance(approvers, list) and "*" in approvers
    if anyone:
        blocks.append(approval_buttons(ref, event.data.get("run")))
    await writer.post(bk.message(f"{ref}: {event.text}", blocks), "evt", event.id)
    if isinstance(approvers, list) and not anyone:
        await _ask_approvers(writer, event, [str(a) for a in approvers])


async def _ask_approvers(writer: RoomWriter, event: TimelineEvent, approvers: list[str]) -> None:
    assert event.id is not None and writer.incident.id is not None
    users: list[str] = []
    roles = await service.current_roles(writer.session, writer.incident.id)
    people = writer.people
    for principal in approvers:
        if bk.is_user_id(principal) or people.slack_id(people.canonical(principal)):
            users.append(people.canonical(principal))
        elif principal.startswith("role:"):
            holder = roles.get(Role(principal[5:])) if principal[5:] in ROLE_NAMES else None
            if holder is not None:
                users.append(holder.assignee)
        elif principal in people.groups:  # configured: its people, no Slack lookup
            users.extend(sorted(people.groups[principal]))
        elif bk.is_group(principal):
            await writer.call(
                "usergroups.list",
                {"include_users": True},
                "evt",
                event.id,
                "approvers",
                principal,
                on_result=GROUP_FOR_APPROVAL,
            )
    await send_approval_requests(writer, event.id, users)
