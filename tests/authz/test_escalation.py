"""The escalation story of issue 13, through REST and through Slack: an insider tries to roll
the fraud model back with no one else's approval. On the shipped defaults (and even on a config
that lets rollback-model run unapproved) it ends with nothing sent to the registry.

The registry is the MLflow-like stand-in of the shipped runbooks (tests/runbook/standins.py):
the champion alias of fraud-detector at v7, v5 and v6 validated; every call it receives is in
``store.applies``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.audit.models import AuditEntry
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.config import load_settings
from bot.incident import flows as incident_flows
from bot.incident.domain import Severity
from bot.incident.schemas import IncidentCreate
from bot.runbook import flows as runbook_flows
from bot.runtime import Runtime
from bot.slack.ids import BlockId, InputId
from integrations.wiring import Integrations
from tests.fakes.slack_api import FakeSlackServer
from tests.runbook.actions import Store
from tests.runbook.conftest import FAST, eventually
from tests.runbook.standins import standin_registry
from tests.slack import slack_requests as sr
from tests.slack.conftest import API, Room, RoomFakeSlack, fake, room_settings, running_room, slack_server

__all__ = ["fake", "slack_server"]

MODEL = "fraud-detector"
CHAMPION = f"alias:{MODEL}@champion"
OPT_IN = {"runs_without_approval": ["rollback-model"]}


@pytest.fixture
def registry() -> Store:
    return Store(
        values={
            CHAMPION: "7",
            f"versions:{MODEL}": ["5", "6"],
            f'metric:model:prediction_errors:ratio_rate5m{{model="{MODEL}"}}': 0.0,
        }
    )


def untouched(registry: Store) -> None:
    assert registry.values[CHAMPION] == "7"
    assert registry.applies == []


async def refusals(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.db.session() as session:
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.action == "authz.refused"))).all()
    return [(str(r.details["action"]), str(r.details["rule"])) for r in rows]


# -- REST ------------------------------------------------------------------------------------


@pytest.fixture
def permissions() -> dict[str, Any]:
    return {}


@pytest.fixture
def people() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def runtime(
    db_url: str, registry: Store, permissions: dict[str, Any], people: list[dict[str, Any]]
) -> AsyncIterator[Runtime]:
    settings = load_settings(database_url=db_url, runbooks=FAST, permissions=permissions, people=people)
    built = Runtime.build(settings)  # the shipped runbooks folder
    built.integrations = Integrations(standin_registry(registry))
    yield built
    await built.db.dispose()


async def token(runtime: Runtime, name: str, scope: Scope = Scope.WRITE) -> dict[str, str]:
    async with runtime.db.transaction() as session:
        _row, clear = await create_token(session, name, [scope], SYSTEM)
    return {"Authorization": f"Bearer {clear}"}


async def declare(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {"title": "fraud errors", "severity": "SEV3", "models": [MODEL], "labels": {"model": MODEL}}
    response = await client.post("/api/v1/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ref"])


async def test_a_write_token_cannot_escalate_its_way_to_a_rollback(
    client: httpx.AsyncClient, runtime: Runtime, registry: Store
) -> None:
    insider = await token(runtime, "t-write")
    ref = await declare(client, insider)
    run = {"runbook": "rollback-model", "incident": ref}

    first = await client.post("/api/v1/runs", json=run, headers=insider)
    grab = await client.post(
        f"/api/v1/incidents/{ref}/roles",
        json={"role": "commander", "assignee": "token:t-write"},
        headers=insider,
    )
    escalate = await client.patch(f"/api/v1/incidents/{ref}", json={"severity": "SEV1"}, headers=insider)
    second = await client.post("/api/v1/runs", json=run, headers=insider)

    assert [r.status_code for r in (first, grab, escalate, second)] == [403, 403, 403, 403]
    assert grab.json()["detail"] == "roles are held by people: token:t-write is not a person"
    assert escalate.json()["hint"] == (
        "allowed: the commander, the incident's responders, admins (none configured) "
        "(permissions.change_severity)"
    )
    assert await refusals(runtime) == [
        ("runbook.run", "the runbook's run_by, else permissions.run_runbooks"),
        ("incident.assign_role", "roles are people's"),
        ("incident.change_severity", "permissions.change_severity"),
        ("runbook.run", "the runbook's run_by, else permissions.run_runbooks"),
    ]
    incident = (await client.get(f"/api/v1/incidents/{ref}", headers=insider)).json()
    assert incident["severity"] == "SEV3" and incident["roles"] == {}
    untouched(registry)


@pytest.mark.parametrize("permissions", [{}, OPT_IN], ids=["shipped", "opted-in"])
@pytest.mark.parametrize("people", [[{"id": "mallory", "tokens": ["m-token"]}]])
async def test_a_person_who_escalates_still_needs_a_second_person(
    client: httpx.AsyncClient, runtime: Runtime, registry: Store, permissions: dict[str, Any]
) -> None:
    """Mallory declares (so she is a responder), takes the empty commander role, raises the
    severity to SEV1 (where rollback-model asks for no approval) and asks for the rollback:
    the severity she set herself does not lower her run's approval."""
    mallory = await token(runtime, "m-token")
    ref = await declare(client, mallory)
    taken = await client.post(
        f"/api/v1/incidents/{ref}/roles", json={"role": "commander", "assignee": "mallory"}, headers=mallory
    )
    escalated = await client.patch(f"/api/v1/incidents/{ref}", json={"severity": "SEV1"}, headers=mallory)
    assert (taken.status_code, escalated.status_code) == (200, 200)
    requested = await client.post(
        "/api/v1/runs", json={"runbook": "rollback-model", "incident": ref}, headers=mallory
    )
    assert requested.status_code == 201, requested.text
    run = requested.json()
    assert (run["status"], run["approvals_required"], run["requested_by"]) == (
        "awaiting_approval",
        1,
        "mallory",
    )
    own = await client.post(f"/api/v1/runs/{run['ref']}/approve", headers=mallory)
    assert own.status_code == 403 and own.json()["rule"] == "four eyes"
    assert (await client.get(f"/api/v1/runs/{run['ref']}", headers=mallory)).json()[
        "status"
    ] == "awaiting_approval"
    untouched(registry)


@pytest.mark.parametrize("permissions", [OPT_IN])
@pytest.mark.parametrize("people", [[{"id": "mallory", "tokens": ["m-token"]}]])
async def test_the_opted_in_fast_path_stays_for_a_severity_set_by_alert_routing(
    client: httpx.AsyncClient, runtime: Runtime, registry: Store
) -> None:
    """The rule is precise: when alert routing opened the incident at SEV1, the commander's
    rollback runs at once, as the config asked."""
    opened = await incident_flows.declare_incident(
        runtime.db,
        IncidentCreate(
            title="fraud errors",
            severity=Severity.SEV1,
            models=[MODEL],
            labels={"model": MODEL},
            responders=["mallory"],
        ),
        SYSTEM,
        authz=runtime.authz,
    )
    mallory = await token(runtime, "m-token")
    taken = await client.post(
        f"/api/v1/incidents/{opened.ref}/roles",
        json={"role": "commander", "assignee": "mallory"},
        headers=mallory,
    )
    assert taken.status_code == 200
    inputs = {"verify_for_s": 0}
    requested = await client.post(
        "/api/v1/runs",
        json={"runbook": "rollback-model", "incident": opened.ref, "inputs": inputs},
        headers=mallory,
    )
    assert requested.json()["approvals_required"] == 0
    done = await runbook_flows.execute(runtime, requested.json()["ref"], poll_s=0.02)
    assert done.status == "succeeded" and registry.values[CHAMPION] == "6"


# -- Slack -----------------------------------------------------------------------------------


@pytest.fixture
def room_permissions() -> dict[str, Any]:
    return {}


@pytest.fixture
async def room(
    db_url: str,
    slack_server: FakeSlackServer,
    fake: RoomFakeSlack,
    registry: Store,
    room_permissions: dict[str, Any],
) -> AsyncIterator[Room]:
    settings = room_settings(
        db_url, slack_server.api_url, permissions=room_permissions, top={"runbooks": FAST}
    )

    def with_standins(runtime: Runtime) -> None:
        runtime.integrations = Integrations(standin_registry(registry))

    async with running_room(settings, fake, slack_server, with_standins) as running:
        yield running


async def say(room: Room, text: str, user: str = "UEVE") -> str:
    reply = await room.command(text, user=user)
    await room.settle()
    return reply.text()


async def test_any_workspace_member_is_refused_in_any_channel(room: Room, registry: Store) -> None:
    out = await incident_flows.declare_incident(
        room.runtime.db,
        IncidentCreate(title="fraud errors", severity=Severity.SEV3, models=[MODEL]),
        API,
        authz=room.runtime.authz,
    )
    await room.settle()
    ref = out.ref
    answers = [
        await say(room, f"{ref} role commander me"),
        await say(room, f"{ref} sev 1"),
        await say(room, f"{ref} runbook run rollback-model"),
    ]
    assert answers == [
        f":warning: eve may not assign the commander role on {ref}\n_allowed: the commander, admins (none "
        "configured); for themselves while it is empty: the incident's responders (permissions.assign_roles, "
        "permissions.take_empty_roles)_",
        f":warning: eve may not change the severity of {ref}\n_allowed: the commander, the incident's "
        "responders, admins (none configured) (permissions.change_severity)_",
        ":warning: eve may not run runbook rollback-model\n_allowed: the commander, the operations (the "
        "runbook's run_by, else permissions.run_runbooks)_",
    ]
    assert [a for a, _rule in await refusals(room.runtime)] == [
        "incident.assign_role",
        "incident.change_severity",
        "runbook.run",
    ]
    untouched(registry)


async def declare_in_slack(room: Room, user: str) -> str:
    values = {
        BlockId.DECLARE_TITLE: {InputId.TITLE: {"type": "plain_text_input", "value": "fraud errors"}},
        BlockId.DECLARE_SEVERITY: {
            InputId.SEVERITY: {"type": "static_select", "selected_option": {"value": "SEV3"}}
        },
        BlockId.DECLARE_MODELS: {InputId.MODELS: {"type": "plain_text_input", "value": MODEL}},
    }
    await room.interact(sr.view_submission(values, user=user, user_name="eve", private_metadata="{}"))
    await room.settle()
    return "INC-1"


@pytest.mark.parametrize("room_permissions", [{}, OPT_IN], ids=["shipped", "opted-in"])
async def test_the_declarer_escalates_and_still_needs_a_second_person(room: Room, registry: Store) -> None:
    ref = await declare_in_slack(room, "UEVE")
    assert (
        await say(room, f"{ref} role commander me")
        == f":white_check_mark: <@UEVE> is now Incident commander of {ref}."
    )
    assert await say(room, f"{ref} sev 1") == f":white_check_mark: {ref} is now SEV1."
    requested = await say(room, f"{ref} runbook run rollback-model")
    assert requested.startswith(":arrow_forward: RUN-1 (") and "waits for 1 approval(s)" in requested
    assert await say(room, f"{ref} approve RUN-1") == (
        ":warning: four eyes: RUN-1 was requested by eve; someone else must approve it\n"
        "_allowed: another of the commander, @ml-oncall (four eyes)_"
    )

    async def waiting() -> bool:
        run = await runbook_flows.get_run(room.runtime, "RUN-1")
        return run.status == "awaiting_approval" and run.approvals_required == 1

    assert await eventually(waiting)
    untouched(registry)
