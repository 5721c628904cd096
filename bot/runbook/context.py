"""What templates see: the incident, the run, its inputs and the results of earlier steps."""

from __future__ import annotations

from typing import Any

from bot.incident.models import Incident
from bot.runbook.tables import RunbookRun, RunbookStep


def incident_context(incident: Incident) -> dict[str, Any]:
    return {
        "ref": incident.ref,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "status": incident.status,
        "labels": dict(incident.labels),
        "models": list(incident.models),
        "services": list(incident.services),
    }


def run_context(run: RunbookRun) -> dict[str, Any]:
    return {
        "ref": run.ref,
        "runbook": run.runbook,
        "requested_by": run.requested_by_label,
        "origin": run.origin,
    }


def step_result(row: RunbookStep) -> dict[str, Any]:
    return {
        "status": row.status,
        "target": row.target,
        "before": row.before or {},
        "after": row.after or {},
        "summary": row.summary,
    }


def template_context(
    inputs: dict[str, Any],
    incident: dict[str, Any],
    run: dict[str, Any],
    steps: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    return {"inputs": inputs, "incident": incident, "run": run, "steps": steps}
