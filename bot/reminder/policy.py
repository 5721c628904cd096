"""When reminders are due: pure rules over an incident's state (no database, no clock).

- Status update: to the commander, ``status_reminder_min[severity]`` minutes after the last
  sign of work (a person changing status/severity/summary or adding a note, the commander
  taking over, or the previous reminder), while the incident is triggered, investigating or
  identified. Each occurrence is numbered: ``status_update:<incident>:<n>``.
- Commander nudge: once, ``no_commander_after_min`` after declaration if there is still no
  commander while the incident is open: ``commander_nudge:<incident>``.
- Escalation: once, ``escalate_unacknowledged_after_min`` after declaration if the incident
  is still triggered and unacknowledged: ``escalation:<incident>``.

The keys are unique in the ``reminder`` table, so firing the same occurrence twice (a
restart, two replicas) inserts one row; timers derive from stored rows, so a restart
neither loses a due reminder nor sends the ones it missed in a burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.chat.settings import SlackSettings
from bot.incident.domain import OPEN_STATUSES, Severity, Status
from bot.reminder.models import ReminderKind

#: Statuses in which the commander owes stakeholders regular updates.
REMIND_STATUSES = (Status.TRIGGERED, Status.INVESTIGATING, Status.IDENTIFIED)
#: Timeline kinds that count as a status update when a person (not the bot) causes them.
UPDATE_KINDS = ("status_changed", "severity_changed", "summary_changed", "note", "reopened", "acknowledged")


@dataclass(frozen=True)
class IncidentState:
    incident_id: int
    ref: str
    title: str
    severity: Severity
    status: Status
    declared_at: datetime
    acknowledged_at: datetime | None
    commander: str | None
    commander_since: datetime | None
    #: The latest status update by a person, if any.
    last_update_at: datetime | None
    #: Status-update reminders fired so far, and when the last one was.
    status_reminders: int
    last_status_reminder_at: datetime | None
    nudged: bool
    escalated: bool


@dataclass(frozen=True)
class Due:
    kind: ReminderKind
    key: str
    due_at: datetime
    #: Minutes the rule waited (for the message text).
    after_min: float


def upcoming(state: IncidentState, settings: SlackSettings) -> list[Due]:
    """Every reminder the incident will get next, due now or later."""
    items: list[Due] = []
    interval = settings.status_reminder_min.get(state.severity, 0.0)
    if interval > 0 and state.status in REMIND_STATUSES and state.commander is not None:
        since = max(
            t
            for t in (
                state.declared_at,
                state.commander_since,
                state.last_update_at,
                state.last_status_reminder_at,
            )
            if t is not None
        )
        items.append(
            Due(
                ReminderKind.STATUS_UPDATE,
                f"{ReminderKind.STATUS_UPDATE.value}:{state.incident_id}:{state.status_reminders + 1}",
                since + timedelta(minutes=interval),
                interval,
            )
        )
    nudge_after = settings.no_commander_after_min
    if nudge_after > 0 and state.commander is None and not state.nudged and state.status in OPEN_STATUSES:
        items.append(
            Due(
                ReminderKind.COMMANDER_NUDGE,
                f"{ReminderKind.COMMANDER_NUDGE.value}:{state.incident_id}",
                state.declared_at + timedelta(minutes=nudge_after),
                nudge_after,
            )
        )
    escalate_after = settings.escalate_unacknowledged_after_min
    if (
        escalate_after > 0
        and state.acknowledged_at is None
        and state.status == Status.TRIGGERED
        and not state.escalated
    ):
        items.append(
            Due(
                ReminderKind.ESCALATION,
                f"{ReminderKind.ESCALATION.value}:{state.incident_id}",
                state.declared_at + timedelta(minutes=escalate_after),
                escalate_after,
            )
        )
    return items


def due_now(state: IncidentState, settings: SlackSettings, now: datetime) -> list[Due]:
    return [item for item in upcoming(state, settings) if item.due_at <= now]


def next_due_at(states: list[IncidentState], settings: SlackSettings, now: datetime) -> datetime | None:
    """The earliest reminder still in the future (when the scheduler should look again)."""
    later = [item.due_at for state in states for item in upcoming(state, settings) if item.due_at > now]
    return min(later, default=None)
