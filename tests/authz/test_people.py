"""One principal model: a person configured once is one principal through Slack, their API
tokens and the command line; never matched by a display name; listed once in a postmortem."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.auth.actor import SYSTEM, Actor, Interface
from bot.auth.service import Scope, create_token
from bot.authz.people import Directory, Person
from bot.cli import app as cli_app
from bot.config import load_settings
from bot.errors import ConfigError, InputError, PermissionDeniedError
from bot.incident import flows as incident_flows
from bot.incident.domain import Role
from bot.incident.schemas import IncidentCreate
from bot.postmortem.facts import collect
from bot.runbook import flows as runbook_flows
from bot.runtime import Runtime
from tests.runbook.actions import Store
from tests.runbook.conftest import WriteRunbook, make_runtime, runbooks_dir, store, write_runbook

__all__ = ["runbooks_dir", "store", "write_runbook"]  # fixtures of the runbook tests, used here

ALICE = {
    "id": "alice",
    "name": "Alice Martin",
    "slack": "U01ALICE",
    "email": "Alice@Example.com",
    "cli": ["amartin"],
    "tokens": ["alice-laptop"],
}
BOB = {"id": "bob", "name": "Bob", "slack": "U01BOB", "tokens": ["bob-ci"]}
GUARDED = """
approval: {required: one, approvers: ["role:commander", "@ml-leads"]}
steps:
  - {id: set, action: test.set, with: {key: k, value: 1}}
"""


def test_every_door_finds_the_same_person() -> None:
    directory = Directory([Person.model_validate(ALICE)], {"@ml-leads": ["U01ALICE", "bob"]})
    via_slack = directory.slack_user("U01ALICE", "alice.m")
    via_token = directory.api_token("alice-laptop")
    via_cli = directory.cli_user("amartin")
    assert {a.id for a in (via_slack, via_token, via_cli)} == {"alice"}
    assert {a.name for a in (via_slack, via_token, via_cli)} == {"Alice Martin"}
    assert via_token.token == "alice-laptop" and via_token.kind == "person"
    for handle in ("alice", "U01ALICE", "alice@example.com", "amartin", "token:alice-laptop"):
        assert directory.canonical(handle) == "alice", handle
    assert directory.groups["@ml-leads"] == {"alice", "bob"}
    assert directory.slack_id("alice") == "U01ALICE"
    # Someone the config does not list is still someone, under their own id.
    assert directory.slack_user("U09STRANGER", "alice").id == "U09STRANGER"  # a display name is no key
    service = directory.api_token("deployer")
    assert (service.id, service.kind) == ("token:deployer", "token")


def test_the_cli_names_a_configured_person_or_no_one() -> None:
    configured = Directory([Person.model_validate(ALICE)])
    with pytest.raises(InputError, match="'carol' is not one of the configured people"):
        configured.cli_user("carol")
    open_install = Directory()
    assert open_install.cli_user("carol").id == "carol"
    for fake in ("U01ALICE", "token:ci", "incident-bot", "a b"):
        with pytest.raises(InputError):
            open_install.cli_user(fake)


@pytest.mark.parametrize(
    ("people", "groups", "error"),
    [
        ([ALICE, {**BOB, "slack": "U01ALICE"}], {}, "'U01ALICE' is given for both 'alice' and 'bob'"),
        ([ALICE, {**BOB, "tokens": ["alice-laptop"]}], {}, "'token:alice-laptop' is given for both"),
        ([{"id": "Alice"}], {}, r"people\[0\]\.id"),
        ([{"id": "x", "slack": "alice"}], {}, "is not a Slack user id"),
        ([{"id": "incident-bot"}], {}, "the bot's own id"),
        ([ALICE], {"ml-leads": ["alice"]}, "must start with @"),
    ],
)
def test_people_are_validated_at_start_up(
    people: list[dict[str, Any]], groups: dict[str, list[str]], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        load_settings(people=people, groups=groups)


def test_the_cli_refuses_an_unknown_person(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("people: [{id: alice, cli: [amartin]}]\n")
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(config))
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(cli_app, ["--as", "mallory", "incident", "declare", "--title", "t"])
    assert result.exit_code == 2  # an expected error: one line, what and what to do
    assert result.output == (
        "error: 'mallory' is not one of the configured people; "
        "say who you are with --as <id or cli login from the people: section>\n"
    )


@pytest.fixture
async def rt(db_url: str, runbooks_dir: Path, store: Store) -> AsyncIterator[Runtime]:
    runtime = make_runtime(
        db_url,
        runbooks_dir,
        store,
        people=[ALICE, BOB],
        groups={"@ml-leads": ["bob"]},
        permissions={"runs_without_approval": []},
    )
    yield runtime
    await runtime.db.dispose()


@pytest.fixture
def runtime(rt: Runtime) -> Runtime:
    """The runtime of the ``client`` fixture."""
    return rt


async def test_four_eyes_counts_a_person_once_across_doors(
    rt: Runtime, client: httpx.AsyncClient, write_runbook: WriteRunbook
) -> None:
    """Alice asks for a run in Slack and approves it with her own API token: one person."""
    write_runbook("guarded", GUARDED)
    async with rt.db.transaction() as session:
        _row, clear = await create_token(session, "alice-laptop", [Scope.WRITE], SYSTEM)
    slack_alice = rt.authz.directory.slack_user("U01ALICE", "alice.m")
    out = await incident_flows.declare_incident(
        rt.db, IncidentCreate(title="drift"), slack_alice, authz=rt.authz
    )
    await incident_flows.assign_role(rt.db, out.ref, Role.COMMANDER, "U01ALICE", slack_alice, authz=rt.authz)
    run = await runbook_flows.start_run(rt, "guarded", out.ref, {}, slack_alice)
    assert run.requested_by == "alice"
    own = await client.post(f"/api/v1/runs/{run.ref}/approve", headers={"Authorization": f"Bearer {clear}"})
    assert own.status_code == 403 and own.json()["rule"] == "four eyes"
    bob = rt.authz.directory.slack_user("U01BOB", "bob")
    approved = await runbook_flows.approve(rt, run.ref, bob)  # in @ml-leads, by his Slack id
    assert [a.approver for a in approved.approvals] == ["bob"]
    done = await runbook_flows.execute(rt, run.ref, poll_s=0.02)
    assert done.status == "succeeded"


async def test_roles_match_ids_never_display_names(rt: Runtime, write_runbook: WriteRunbook) -> None:
    """A Slack user whose user name is "alice" is not the commander alice."""
    write_runbook("guarded", GUARDED)
    alice = rt.authz.directory.cli_user("amartin")
    out = await incident_flows.declare_incident(rt.db, IncidentCreate(title="drift"), alice, authz=rt.authz)
    await incident_flows.assign_role(rt.db, out.ref, Role.COMMANDER, "alice", alice, authz=rt.authz)
    await incident_flows.assign_role(rt.db, out.ref, Role.OPERATIONS, "bob", alice, authz=rt.authz)
    run = await runbook_flows.start_run(rt, "guarded", out.ref, {}, rt.authz.directory.api_token("bob-ci"))
    impostor = rt.authz.directory.slack_user("U09MALLORY", "alice")
    named_alice = Actor(id="mallory", kind="person", interface=Interface.API, name="alice")
    for someone in (impostor, named_alice):
        with pytest.raises(PermissionDeniedError, match="may not approve"):
            await runbook_flows.approve(rt, run.ref, someone)
    approved = await runbook_flows.approve(rt, run.ref, rt.authz.directory.slack_user("U01ALICE", "x"))
    assert approved.status == "pending"


async def test_a_postmortem_lists_a_person_once(rt: Runtime) -> None:
    directory = rt.authz.directory
    in_slack, with_token = directory.slack_user("U01ALICE", "alice.m"), directory.api_token("alice-laptop")
    out = await incident_flows.declare_incident(
        rt.db, IncidentCreate(title="drift"), in_slack, authz=rt.authz
    )
    await incident_flows.assign_role(
        rt.db, out.ref, Role.COMMANDER, "alice@example.com", with_token, authz=rt.authz
    )
    await incident_flows.add_note(rt.db, out.ref, "looking", with_token, authz=rt.authz)
    events = await incident_flows.get_timeline(rt.db, out.ref)
    assert {e.actor_id for e in events} == {"alice"} and {e.actor for e in events} == {"Alice Martin"}
    incident = await incident_flows.get_incident(rt.db, out.ref)
    assert incident.roles["commander"].assignee == "alice"
    assert collect(incident, events).responders == ["Alice Martin"]
