"""Postmortem draft: durations, runbooks, action items, blameless check, template errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.auth.actor import SYSTEM, Actor, Interface
from bot.config import DEFAULT_TEMPLATES_DIR
from bot.db import Database
from bot.errors import InputError
from bot.incident import flows, service, timeline
from bot.incident.domain import Role, Status
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from bot.postmortem.blameless import check
from bot.postmortem.render import human_duration, render_postmortem
from tests.access import OPEN

ALICE = Actor(id="U1", kind="person", interface=Interface.SLACK, name="alice")


async def _incident_with_history(db: Database) -> str:
    ref = (
        await flows.declare_incident(
            db,
            IncidentCreate(
                title="fraud-detector error rate",
                severity="SEV2",
                models=["fraud-detector"],
                summary="v7 produced NaN scores after a feature schema change.",
            ),
            ALICE,
            authz=OPEN,
        )
    ).ref
    await flows.assign_role(db, ref, Role.COMMANDER, "alice", ALICE, authz=OPEN)
    await flows.acknowledge(db, ref, ALICE, authz=OPEN)
    await flows.add_note(db, ref, "action: alert on NaN rate of scores", ALICE, authz=OPEN)
    await flows.add_note(db, ref, "Bob forgot to run the schema check", ALICE, authz=OPEN)
    async with db.transaction() as session:
        incident = await service.get_incident(session, ref, for_update=True)
        for kind, data in (
            ("runbook_started", {"run": "RUN-1", "runbook": "rollback-model"}),
            (
                "runbook_step_started",
                {"run": "RUN-1", "step": "rollback", "summary": "alias champion of fraud-detector: v7 → v6"},
            ),
            (
                "runbook_step_succeeded",
                {"run": "RUN-1", "step": "rollback", "summary": "alias champion of fraud-detector: v7 → v6"},
            ),
            ("runbook_succeeded", {"run": "RUN-1", "runbook": "rollback-model"}),
        ):
            await timeline.record(session, incident, kind=kind, text=kind, actor=SYSTEM, data=data)
    await flows.update_incident(db, ref, IncidentUpdate(status=Status.MITIGATED), ALICE, authz=OPEN)
    await flows.update_incident(db, ref, IncidentUpdate(status=Status.RESOLVED), ALICE, authz=OPEN)
    return ref


async def test_draft_contains_the_facts(db: Database) -> None:
    ref = await _incident_with_history(db)
    text = await render_postmortem(db, ref, DEFAULT_TEMPLATES_DIR)
    assert text.startswith("# Postmortem: fraud-detector error rate (INC-1)")
    assert "| Commander | alice |" in text
    assert "Time to mitigate (stop the bleeding): **" in text
    assert "| RUN-1 | rollback-model | incident-bot |" in text
    assert "succeeded |" in text
    assert text.count("- rollback: alias champion of fraud-detector: v7 → v6") == 1  # its end, once
    assert "| alert on NaN rate of scores | alice |" in text
    assert "Status changed from mitigated to resolved" in text
    assert "Blameless language check" in text
    assert "“forgot to”" in text
    assert "v7 produced NaN scores" in text


async def test_api_serves_markdown(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], runtime
) -> None:  # type: ignore[no-untyped-def]
    await _incident_with_history(runtime.db)
    r = await client.get("/api/v1/incidents/INC-1/postmortem", headers=tokens["read"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/markdown")
    assert "# Postmortem:" in r.text
    assert (await client.get("/api/v1/incidents/INC-7/postmortem", headers=tokens["read"])).status_code == 404


async def test_a_broken_user_template_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    ref = await _incident_with_history(db)
    (tmp_path / "postmortem.md.j2").write_text("# {{ incident.titel }}\n")
    with pytest.raises(InputError, match="titel"):
        await render_postmortem(db, ref, tmp_path)


def test_blameless_check_and_durations() -> None:
    findings = check(["It was human error", "We rolled back", "She should have known"])
    assert [f.phrase.lower() for f in findings] == ["human error", "should have"]
    assert check(["The deploy pipeline allowed an unchecked schema"]) == []
    assert human_duration(timedelta(seconds=42)) == "42 s"
    assert human_duration(timedelta(minutes=3, seconds=5)) == "3 min 05 s"
    assert human_duration(timedelta(hours=2, minutes=7)) == "2 h 07 min"
    assert human_duration(None) == "—"
