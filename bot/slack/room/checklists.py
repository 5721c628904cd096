"""What each incident role does: the checklist sent privately to whoever takes the role."""

from __future__ import annotations

from bot.incident.domain import Role
from bot.slack import blocks as bk

CHECKLISTS: dict[Role, tuple[str, ...]] = {
    Role.COMMANDER: (
        "Acknowledge the incident and confirm the severity (`/incident sev`).",
        "Assign operations, communications and scribe (`/incident role`).",
        "Mitigate first: check the suggested runbooks on the card (Plan is a dry run).",
        "Post a status update at every reminder; say what changed and what is next.",
        "Resolve when customers are no longer affected (`/incident resolve`).",
    ),
    Role.COMMUNICATIONS: (
        "Tell affected teams and stakeholders what is broken and who is on it.",
        "Update them after every status change; no speculation about causes.",
        "Keep the broadcast channel current; announce the resolution.",
    ),
    Role.OPERATIONS: (
        "Own the hands-on work: diagnose, run and verify runbooks.",
        "Plan before you run; say in the channel what you change, before you change it.",
        "Record what you tried, including what did not work (`/incident note`).",
    ),
    Role.SCRIBE: (
        "Keep the timeline complete: add key messages with the shortcut or the :memo: reaction.",
        "Note decisions, their reasons and who made them (`/incident note`).",
        "Start action items with `action:` so they land in the postmortem.",
    ),
}


def checklist_message(role: Role, ref: str, title: str, channel_id: str | None) -> dict[str, object]:
    """Arguments of the private checklist message (without the ``channel``)."""
    where = f" in {bk.channel_link(channel_id)}" if channel_id else ""
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(CHECKLISTS[role], start=1))
    intro = f"You are *{role.display}* of {ref}: {bk.escape(title)}{where}."
    return bk.message(
        f"You are {role.display} of {ref}",
        [bk.section(intro), bk.section(f"*Your checklist*\n{steps}")],
    )
