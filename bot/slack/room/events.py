"""What one timeline event does to the room: a channel line, a private checklist, runbook news."""

from __future__ import annotations

from bot.incident.domain import Role
from bot.incident.models import TimelineEvent
from bot.slack.room.checklists import checklist_message
from bot.slack.room.messages import channel_line, text_message
from bot.slack.room.runbook_messages import apply_runbook_event
from bot.slack.room.writer import RoomWriter

ROLE_KINDS = ("role_assigned", "role_handover")
#: Kinds that need nothing from the channel: they never hold the projection back.
CHANNEL_FREE = frozenset({"declared", "channel_created", "chat_error", "summary_changed"})


def needs_channel(event: TimelineEvent) -> bool:
    return event.kind not in CHANNEL_FREE and not event.kind.startswith("alert")


async def apply_event(writer: RoomWriter, event: TimelineEvent) -> None:
    assert event.id is not None
    line = channel_line(event, writer.reachable)
    if line is not None:
        await writer.post(text_message(line), "evt", event.id)
    if event.kind in ROLE_KINDS:
        assignee = str(event.data.get("assignee") or "")
        role = Role(str(event.data.get("role")))
        await writer.invite(assignee)
        checklist = checklist_message(role, writer.incident.ref, writer.incident.title, writer.channel)
        await writer.direct_message(assignee, checklist, "evt", event.id, "checklist")
    if event.kind.startswith("runbook_"):
        await apply_runbook_event(writer, event)
