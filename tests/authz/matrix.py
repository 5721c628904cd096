"""The authorization matrix: principals by actions, one expected decision each, for every door.

One configuration (people, a group, a few permission lists) and one table. Each door test
(REST, CLI, Slack, the bot's own calls) sets up the same state for a cell, performs the action
through its door and checks it got the decision of the table, and, for a refusal, that the audit
log holds the same ``authz.refused`` entry (action and rule) whichever door asked.

Principals: ben (the incident's commander, an admin), ana (listed as a responder, in @ml-leads),
cat (nobody in particular), the service token ``ci`` (admin scope: only authorization stops it),
and the bot. dan is the operations lead who requests the runs others approve; eve is a person
roles are given to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.alert import flows as alert_flows
from bot.alert.schemas import SilenceCreate
from bot.auth import flows as auth_flows
from bot.auth.actor import SYSTEM, Actor, Interface
from bot.auth.service import Scope
from bot.incident import flows as incident_flows
from bot.incident.domain import Role, Severity, Status
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from bot.runbook import flows as runbook_flows
from bot.runtime import Runtime

PEOPLE: list[dict[str, Any]] = [
    {"id": "ben", "name": "Ben", "slack": "UBEN", "cli": ["ben"], "tokens": ["ben-token"]},
    {"id": "ana", "name": "Ana", "slack": "UANA", "cli": ["ana"], "tokens": ["ana-token"]},
    {"id": "cat", "name": "Cat", "slack": "UCAT", "cli": ["cat"], "tokens": ["cat-token"]},
    {"id": "dan", "name": "Dan", "slack": "UDAN", "cli": ["dan"], "tokens": ["dan-token"]},
    {"id": "eve", "name": "Eve", "slack": "UEVE", "cli": ["eve"]},
]
GROUPS = {"@ml-leads": ["ana", "ben"]}
#: The defaults, but for silences and tokens (whose defaults allow everyone) and an admin.
PERMISSIONS = {"admins": ["ben"], "silence_alerts": ["@ml-leads"], "manage_tokens": ["admins"]}

CHANGE = """\
name: change
title: Change the store
owner: tests
inputs:
  key: {default: k}
approval: {required: one}
steps:
  - {id: set, action: test.set, with: {key: "{{ inputs.key }}", value: 1}}
"""

DAN = Actor(id="dan", kind="person", interface=Interface.SLACK, name="Dan")
BEN = Actor(id="ben", kind="person", interface=Interface.SLACK, name="Ben")

PERSONS = ("ben", "ana", "cat")
TOKEN = "ci"
BOT = "bot"
ALL = (*PERSONS, TOKEN, BOT)

#: The rules a refusal names (``details.rule`` of its audit entry).
SEVERITY = "permissions.change_severity"
RESOLVE = "permissions.resolve"
ROLES = "permissions.assign_roles, permissions.take_empty_roles"
PEOPLES_ROLES = "roles are people's"
RUNNERS = "the runbook's run_by, else permissions.run_runbooks"
APPROVERS = "the run's approvers"
PEOPLE_APPROVE = "approvals are people's"
CANCELLERS = "the requester, the runbook's runners and approvers"
SILENCES = "permissions.silence_alerts"
TOKENS = "permissions.manage_tokens"

EMPTY_ROLES = (Role.COMMUNICATIONS, Role.SCRIBE)
HELD_ROLES = (Role.COMMANDER, Role.OPERATIONS)


def _cells() -> dict[str, tuple[str, dict[str, str | None]]]:
    """cell → (the audited action, principal → None (allowed) or the rule that refuses)."""
    ok: None = None

    def row(action: str, **refused: str) -> tuple[str, dict[str, str | None]]:
        return action, {p: refused.get(p, ok) for p in ALL}

    cells = {
        "declare": row("incident.declare"),
        "severity_up": row("incident.change_severity", cat=SEVERITY, ci=SEVERITY),
        "severity_down": row("incident.change_severity", cat=SEVERITY, ci=SEVERITY),
        "status": row("incident.change_status"),
        "resolve": row("incident.resolve", cat=RESOLVE, ci=RESOLVE),
        "close": row("incident.close", cat=RESOLVE, ci=RESOLVE),
        "note": row("incident.note"),
        "run": row("runbook.run", ana=RUNNERS, cat=RUNNERS, ci=RUNNERS),
        "approve": row(
            "runbook.approve", ana=APPROVERS, cat=APPROVERS, ci=PEOPLE_APPROVE, bot=PEOPLE_APPROVE
        ),
        "deny": row("runbook.deny", ana=APPROVERS, cat=APPROVERS, ci=APPROVERS, bot=PEOPLE_APPROVE),
        "cancel": row("runbook.cancel", ana=CANCELLERS, cat=CANCELLERS, ci=CANCELLERS),
        "undo": row("runbook.undo", ana=RUNNERS, cat=RUNNERS, ci=RUNNERS),
        "silence_create": row("silence.create", cat=SILENCES, ci=SILENCES),
        "silence_expire": row("silence.expire", cat=SILENCES, ci=SILENCES),
        "token_create": row("token.create", ana=TOKENS, cat=TOKENS, ci=TOKENS),
        "token_revoke": row("token.revoke", ana=TOKENS, cat=TOKENS, ci=TOKENS),
    }
    for role in Role:
        cells[f"give_{role.value}"] = row("incident.assign_role", ana=ROLES, cat=ROLES, ci=ROLES)
        taking = {"cat": ROLES, "ci": PEOPLES_ROLES, "bot": PEOPLES_ROLES}
        if role in HELD_ROLES:
            taking["ana"] = ROLES  # a responder takes an empty role only
        cells[f"take_{role.value}"] = row("incident.assign_role", **taking)
    return cells


CELLS = _cells()


def expected(cell: str, principal: str) -> str | None:
    """None when ``principal`` may do ``cell``; else the rule that refuses it."""
    return CELLS[cell][1][principal]


def role_of(cell: str) -> Role | None:
    kind, _, name = cell.partition("_")
    return Role(name) if kind in ("give", "take") else None


@dataclass
class Stage:
    """The state a cell acts on: a fresh incident (and run, silence or token when needed)."""

    ref: str
    run: str | None = None
    silence: int | None = None
    token: str | None = None


_numbers = itertools.count(1)


async def stage(runtime: Runtime, cell: str) -> Stage:
    """An incident opened by alert routing (the bot) at SEV3 with ana as a responder, ben as
    commander and dan as operations lead; what the cell needs on top."""
    n = next(_numbers)
    authz = runtime.authz
    data = IncidentCreate(title=f"cell {cell}", severity=Severity.SEV3, responders=["ana"])
    ref = (await incident_flows.declare_incident(runtime.db, data, SYSTEM, authz=authz)).ref
    for role, person in ((Role.COMMANDER, "ben"), (Role.OPERATIONS, "dan")):
        await incident_flows.assign_role(runtime.db, ref, role, person, SYSTEM, authz=authz)
    staged = Stage(ref)
    if cell == "close":
        update = IncidentUpdate(status=Status.RESOLVED)
        await incident_flows.update_incident(runtime.db, ref, update, SYSTEM, authz=authz)
    if cell in ("approve", "deny", "cancel", "undo"):
        run = await runbook_flows.start_run(runtime, "change", ref, {"key": f"k{n}"}, DAN)
        staged.run = run.ref
        if cell == "undo":
            await runbook_flows.approve(runtime, run.ref, BEN)
            await runbook_flows.execute(runtime, run.ref, poll_s=0.02)
    if cell == "silence_expire":
        silence = SilenceCreate(matchers=[f'cell="{n}"'], duration_s=3600, reason="staged")
        staged.silence = (await alert_flows.create_silence(runtime.db, silence, SYSTEM, authz=authz)).id
    if cell == "token_revoke":
        staged.token = f"staged-{n}"
        await auth_flows.create_token(runtime.db, staged.token, [Scope.READ], SYSTEM, authz=authz)
    return staged


def runbooks_folder(tmp: Path) -> Path:
    folder = tmp / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "change.yaml").write_text(CHANGE)
    return folder


def matrix_settings(runbooks_dir: Path) -> dict[str, Any]:
    return {
        "people": PEOPLE,
        "groups": GROUPS,
        "permissions": PERMISSIONS,
        "runbooks_dir": runbooks_dir,
        "runbooks": {"poll_interval": 0.05, "lease": 5, "default_retries": {"max": 0}},
    }
