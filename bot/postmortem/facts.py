"""What a postmortem is built from: durations, key moments, runbooks run, action items.

Everything here is derived from the incident row and its append-only timeline, so a draft
can be regenerated at any time and always agrees with the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.incident.schemas import IncidentOut, TimelineEventOut

#: Notes that start like this become action items ("action: add a drift alert on ...").
_ACTION_ITEM = re.compile(r"^\s*(action|ai|todo|follow[- ]?up)\s*[:\-]\s*(?P<text>.+)", re.IGNORECASE | re.S)
_KEY_KINDS = {
    "declared",
    "status_changed",
    "reopened",
    "severity_changed",
    "role_assigned",
    "role_handover",
    "acknowledged",
    "escalated",
}


_OUTCOMES = {"succeeded", "failed", "cancelled", "undone", "denied", "approved", "started"}
#: Step events that say how a step ended (a started step says it again when it ends).
_STEP_ENDS = {
    "runbook_step_succeeded": "",
    "runbook_step_failed": "failed: ",
    "runbook_step_undone": "undone: ",
}


@dataclass(frozen=True)
class Durations:
    to_acknowledge: timedelta | None
    to_mitigate: timedelta | None
    to_resolve: timedelta | None
    detection_to_declaration: timedelta | None


@dataclass(frozen=True)
class RunbookRun:
    run: str
    runbook: str
    outcome: str
    started_at: datetime
    requested_by: str
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PostmortemFacts:
    incident: IncidentOut
    durations: Durations
    key_events: list[TimelineEventOut]
    runbook_runs: list[RunbookRun]
    action_items: list[TimelineEventOut]
    notes: list[TimelineEventOut]
    alert_events: list[TimelineEventOut]
    responders: list[str]
    timeline: list[TimelineEventOut]


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start is not None and end is not None else None


def _runbook_runs(events: list[TimelineEventOut]) -> list[RunbookRun]:
    """One row per run, from the runbook engine's timeline events (its last outcome wins)."""
    runs: dict[str, RunbookRun] = {}
    for e in events:
        ref = str(e.data.get("run") or "")
        if not e.kind.startswith("runbook_") or e.kind == "runbook_dry_run" or not ref:
            continue
        run = runs.setdefault(
            ref,
            RunbookRun(
                run=ref,
                runbook=str(e.data.get("runbook", "?")),
                outcome="requested",
                started_at=e.at,
                requested_by=e.actor,
            ),
        )
        if e.kind in _STEP_ENDS and (e.data.get("summary") or e.data.get("error")):
            what = e.data.get("summary") or e.data.get("error")
            run.steps.append(f"{e.data.get('step', '?')}: {_STEP_ENDS[e.kind]}{what}")
        outcome = e.kind.removeprefix("runbook_")
        if outcome in _OUTCOMES:
            runs[ref] = replace(run, outcome=outcome)
    return list(runs.values())


def _people(incident: IncidentOut, events: list[TimelineEventOut]) -> list[str]:
    """Everyone who acted or held a role, once each: by principal id (a person who acted from
    Slack and through their API token is one person), shown by the name they acted under."""
    names: dict[str, str] = {}
    for e in events:
        if e.interface != "system":
            names.setdefault(e.actor_id or e.actor, e.actor)
    for holder in incident.roles.values():
        names.setdefault(holder.assignee, holder.assignee)
    return sorted(set(names.values()))


def collect(incident: IncidentOut, events: list[TimelineEventOut]) -> PostmortemFacts:
    start = incident.detected_at or incident.declared_at
    notes = [e for e in events if e.kind == "note"]
    action_items = [e for e in notes if _ACTION_ITEM.match(e.text)]
    people = _people(incident, events)
    return PostmortemFacts(
        incident=incident,
        durations=Durations(
            to_acknowledge=_between(start, incident.acknowledged_at),
            to_mitigate=_between(start, incident.mitigated_at),
            to_resolve=_between(start, incident.resolved_at),
            detection_to_declaration=_between(incident.detected_at, incident.declared_at),
        ),
        key_events=[e for e in events if e.kind in _KEY_KINDS],
        runbook_runs=_runbook_runs(events),
        action_items=action_items,
        notes=[e for e in notes if e not in action_items],
        alert_events=[e for e in events if e.kind.startswith("alert")],
        responders=people,
        timeline=events,
    )


def action_item_text(event: TimelineEventOut) -> str:
    match = _ACTION_ITEM.match(event.text)
    return match.group("text").strip() if match else event.text
