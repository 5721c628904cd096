"""The reminder rules, without a database: what is due when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.chat.settings import SlackSettings
from bot.incident.domain import Severity, Status
from bot.reminder.models import ReminderKind
from bot.reminder.policy import IncidentState, due_now, next_due_at, upcoming

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
SETTINGS = SlackSettings(
    status_reminder_min={Severity.SEV1: 15, Severity.SEV2: 30, Severity.SEV4: 0},
    no_commander_after_min=10,
    escalate_unacknowledged_after_min=20,
)
STATE = IncidentState(
    incident_id=7,
    ref="INC-7",
    title="t",
    severity=Severity.SEV2,
    status=Status.INVESTIGATING,
    declared_at=T0,
    acknowledged_at=T0,
    commander="U1",
    commander_since=T0 + timedelta(minutes=5),
    last_update_at=None,
    status_reminders=0,
    last_status_reminder_at=None,
    nudged=False,
    escalated=False,
)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_status_update_interval_per_severity_from_the_last_sign_of_work() -> None:
    (item,) = upcoming(STATE, SETTINGS)
    assert (item.kind, item.key, item.due_at) == (ReminderKind.STATUS_UPDATE, "status_update:7:1", _at(35))
    assert due_now(STATE, SETTINGS, _at(34)) == [] and due_now(STATE, SETTINGS, _at(35)) == [item]
    updated = replace(STATE, last_update_at=_at(50))
    assert upcoming(updated, SETTINGS)[0].due_at == _at(80)
    reminded = replace(STATE, status_reminders=2, last_status_reminder_at=_at(100))
    assert (upcoming(reminded, SETTINGS)[0].key, upcoming(reminded, SETTINGS)[0].due_at) == (
        "status_update:7:3",
        _at(130),
    )
    assert upcoming(replace(STATE, severity=Severity.SEV1), SETTINGS)[0].due_at == _at(20)
    assert upcoming(replace(STATE, severity=Severity.SEV4), SETTINGS) == []
    assert upcoming(replace(STATE, severity=Severity.SEV3), SETTINGS) == []  # not configured: off
    assert upcoming(replace(STATE, status=Status.MITIGATED), SETTINGS) == []


def test_no_commander_nudge_once() -> None:
    state = replace(STATE, commander=None, commander_since=None)
    (item,) = upcoming(state, SETTINGS)
    assert (item.kind, item.key, item.due_at) == (ReminderKind.COMMANDER_NUDGE, "commander_nudge:7", _at(10))
    assert upcoming(replace(state, nudged=True), SETTINGS) == []
    assert upcoming(replace(state, status=Status.MITIGATED), SETTINGS) == [item]


def test_escalation_while_triggered_and_unacknowledged() -> None:
    state = replace(STATE, status=Status.TRIGGERED, acknowledged_at=None)
    kinds = {i.kind: i for i in upcoming(state, SETTINGS)}
    assert kinds[ReminderKind.ESCALATION].due_at == _at(20)
    assert kinds[ReminderKind.ESCALATION].key == "escalation:7"
    assert ReminderKind.ESCALATION not in {i.kind for i in upcoming(replace(state, escalated=True), SETTINGS)}
    acknowledged = replace(state, acknowledged_at=_at(3))
    assert ReminderKind.ESCALATION not in {i.kind for i in upcoming(acknowledged, SETTINGS)}
    off = SETTINGS.model_copy(update={"escalate_unacknowledged_after_min": 0})
    assert ReminderKind.ESCALATION not in {i.kind for i in upcoming(state, off)}


def test_next_due_is_the_earliest_future_one() -> None:
    other = replace(STATE, incident_id=8, commander=None, commander_since=None)
    assert next_due_at([STATE, other], SETTINGS, T0) == _at(10)
    assert next_due_at([STATE, other], SETTINGS, _at(10)) == _at(35)
    assert next_due_at([], SETTINGS, T0) is None
