"""The /incident parser: every subcommand's accepted forms and its refusals."""

from __future__ import annotations

import pytest

from bot.incident.domain import Role, Severity, Status
from bot.slack import commands as c


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", c.Help()),
        ("help", c.Help()),
        ("declare", c.Declare(title="")),
        ("declare Fraud model  latency", c.Declare(title="Fraud model  latency")),
        ("status", c.ShowStatus()),
        ("INC-4 status", c.ShowStatus(incident_ref="INC-4")),
        ("status inc-4", c.ShowStatus(incident_ref="INC-4")),
        ("status mitigated fallback is on", c.ChangeStatus(status=Status.MITIGATED, reason="fallback is on")),
        ("status Identified", c.ChangeStatus(status=Status.IDENTIFIED)),
        ("ack", c.Acknowledge()),
        ("acknowledge INC-2", c.Acknowledge(incident_ref="INC-2")),
        ("sev SEV1", c.ChangeSeverity(severity=Severity.SEV1)),
        (
            "sev 2 customers see errors",
            c.ChangeSeverity(severity=Severity.SEV2, reason="customers see errors"),
        ),
        ("role commander <@U0ABC|ana>", c.AssignRole(role=Role.COMMANDER, user_id="U0ABC")),
        ("role ic <@U0ABC>", c.AssignRole(role=Role.COMMANDER, user_id="U0ABC")),
        ("role comms me", c.AssignRole(role=Role.COMMUNICATIONS, user_id=None)),
        ("role ops <@W123>", c.AssignRole(role=Role.OPERATIONS, user_id="W123")),
        (
            "note INC-3 rolled back\n  second line",
            c.AddNote(text="rolled back\n  second line", incident_ref="INC-3"),
        ),
        ("runbook", c.RunbookList()),
        ("runbook list", c.RunbookList()),
        ("runbook suggested", c.RunbookSuggested()),
        ("runbook plan rollback-model", c.RunbookPlan(name="rollback-model", inputs={})),
        (
            "runbook run rollback-model model=fraud version=3",
            c.RunbookRun(name="rollback-model", inputs={"model": "fraud", "version": "3"}),
        ),
        ("approve", c.Approve(run_id=None)),
        ("approve #12", c.Approve(run_id=12)),
        ("deny run-3 too risky now", c.Deny(run_id=3, reason="too risky now")),
        ("deny", c.Deny(run_id=None)),
        ("resolve", c.Resolve()),
        ("resolve fallback held for an hour", c.Resolve(reason="fallback held for an hour")),
        ("postmortem", c.Postmortem()),
    ],
)
def test_parses(text: str, expected: c.Command) -> None:
    assert c.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("bogus", "unknown subcommand 'bogus'"),
        ("sev", "which severity?"),
        ("sev 9", "'9' is not a severity"),
        ("status broken", "'broken' is not a status"),
        ("role", "usage: role"),
        ("role boss <@U1>", "'boss' is not a role"),
        ("role ic bob", "'bob' is not a person"),
        ("note", "a note needs text"),
        ("note INC-3", "a note needs text"),
        ("runbook plan", "which runbook?"),
        ("runbook run x not-an-input", "'not-an-input' is not an input"),
        ("runbook frobnicate", "unknown runbook subcommand"),
        ("approve 12 please", "usage: approve"),
        ("ack now", "ack takes no arguments"),
        ("postmortem draft", "postmortem takes no arguments"),
        ("INC-3 status INC-4", "name the incident once"),
        ("declare INC-4", "declare opens a new incident"),
    ],
)
def test_refuses_malformed_input(text: str, problem: str) -> None:
    with pytest.raises(c.CommandError, match=problem.replace("?", r"\?")):
        c.parse(text)


def test_which_commands_need_an_incident() -> None:
    assert not c.parse("help").needs_incident
    assert not c.parse("declare x").needs_incident
    assert not c.parse("runbook list").needs_incident
    assert c.parse("runbook suggested").needs_incident
    assert c.parse("note hi").needs_incident


def test_help_lists_every_subcommand_and_leads_with_the_problem() -> None:
    text = c.help_text("unknown subcommand 'x'")
    assert text.startswith("unknown subcommand 'x'")
    for name in (
        "declare",
        "status",
        "sev",
        "role",
        "note",
        "runbook",
        "approve",
        "deny",
        "resolve",
        "postmortem",
    ):
        assert f"`/incident {name}" in text
