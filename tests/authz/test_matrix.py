"""The matrix of tests/authz/matrix.py through every door: REST (the persons' own API tokens and
the service token ``ci``), the CLI (``--as``), Slack (signed requests from the persons' Slack
ids) and the bot's own calls. Each door must reach the decision of the table, and each refusal
must leave the same audit entry (``authz.refused``, the action and the rule) whatever the door.
Slack has no commands for silences and tokens; the CLI and Slack have no service tokens; only
the bot acts as the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.alert import flows as alert_flows
from bot.alert.schemas import SilenceCreate
from bot.audit.models import AuditEntry
from bot.auth import flows as auth_flows
from bot.auth.actor import SYSTEM
from bot.auth.service import Scope, create_token
from bot.authz.policy import RefusedError
from bot.cli import app as cli_app
from bot.cli import runbook_cmd
from bot.config import Settings
from bot.incident import flows as incident_flows
from bot.incident.domain import Severity, Status
from bot.incident.schemas import IncidentCreate, IncidentUpdate
from bot.runbook import flows as runbook_flows
from bot.runtime import Runtime
from bot.slack.ids import BlockId, InputId
from integrations.wiring import Integrations
from tests.authz import matrix as m
from tests.fakes.slack_api import FakeSlackServer
from tests.runbook.actions import Store, make_registry
from tests.slack import slack_requests as sr
from tests.slack.conftest import Room, RoomFakeSlack, fake, room_settings, running_room, slack_server

__all__ = ["fake", "slack_server"]  # fixtures of the Slack tests, used here

Outcome = str | None  # None: allowed; else the rule the refusal named
_n = itertools.count(1)
SLACK_IDS = {p["id"]: p["slack"] for p in m.PEOPLE}


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
async def room(
    db_url: str, slack_server: FakeSlackServer, fake: RoomFakeSlack, store: Store, tmp_path: Path
) -> AsyncIterator[Room]:
    extra = m.matrix_settings(m.runbooks_folder(tmp_path))
    settings = room_settings(db_url, slack_server.api_url, permissions=extra.pop("permissions"), top=extra)

    def with_test_actions(runtime: Runtime) -> None:
        runtime.integrations = Integrations(make_registry(store))

    async with running_room(settings, fake, slack_server, with_test_actions) as running:
        yield running


async def check(room: Room, principal: str, cell: str, act: Callable[[m.Stage], Awaitable[Outcome]]) -> None:
    """Stage the cell, act through the door, compare with the table and the audit log."""
    staged = await m.stage(room.runtime, cell)
    since = await last_audit_id(room)
    outcome = await act(staged)
    await room.settle()
    rule = m.expected(cell, principal)
    assert outcome == rule, f"{principal} {cell}: got {outcome or 'allowed'}, want {rule or 'allowed'}"
    refusals = await refusals_since(room, since)
    if rule is None:
        assert refusals == [], (principal, cell, refusals)
        return
    who = {"ci": "token:ci", "bot": "incident-bot"}.get(principal, principal)
    assert refusals == [(who, m.CELLS[cell][0], rule)], (principal, cell)


async def last_audit_id(room: Room) -> int:
    async with room.runtime.db.session() as session:
        rows = (await session.exec(select(AuditEntry.id).order_by(col(AuditEntry.id).desc()).limit(1))).all()
    return int(rows[0] or 0) if rows else 0


async def refusals_since(room: Room, since: int) -> list[tuple[str, str, str]]:
    async with room.runtime.db.session() as session:
        rows = (
            await session.exec(
                select(AuditEntry).where(col(AuditEntry.id) > since, AuditEntry.action == "authz.refused")
            )
        ).all()
    return [(r.actor, str(r.details["action"]), str(r.details["rule"])) for r in rows]


# -- REST ------------------------------------------------------------------------------------


async def rest_call(
    http: httpx.AsyncClient, headers: dict[str, str], me: str, cell: str, st: m.Stage
) -> httpx.Response:
    n = next(_n)
    inc = f"/api/v1/incidents/{st.ref}"
    role = m.role_of(cell)
    patches = {
        "severity_up": {"severity": "SEV2"},
        "severity_down": {"severity": "SEV4"},
        "status": {"status": "investigating"},
        "resolve": {"status": "resolved"},
        "close": {"status": "closed"},
    }
    if cell in patches:
        return await http.patch(inc, json=patches[cell], headers=headers)
    if role is not None:
        assignee = "eve" if cell.startswith("give") else me
        return await http.post(
            f"{inc}/roles", json={"role": role.value, "assignee": assignee}, headers=headers
        )
    calls: dict[str, tuple[str, str, Any]] = {
        "declare": ("POST", "/api/v1/incidents", {"title": "declared over REST"}),
        "note": ("POST", f"{inc}/notes", {"text": "a note"}),
        "run": (
            "POST",
            "/api/v1/runs",
            {"runbook": "change", "incident": st.ref, "inputs": {"key": f"r{n}"}},
        ),
        "approve": ("POST", f"/api/v1/runs/{st.run}/approve", None),
        "deny": ("POST", f"/api/v1/runs/{st.run}/deny", {"reason": "no"}),
        "cancel": ("POST", f"/api/v1/runs/{st.run}/cancel", None),
        "undo": ("POST", f"/api/v1/runs/{st.run}/undo", None),
        "silence_create": (
            "POST",
            "/api/v1/silences",
            {"matchers": [f'n="{n}"'], "duration_s": 600, "reason": "r"},
        ),
        "silence_expire": ("POST", f"/api/v1/silences/{st.silence}/expire", None),
        "token_create": ("POST", "/api/v1/tokens", {"name": f"new-{n}", "scopes": ["read"]}),
        "token_revoke": ("DELETE", f"/api/v1/tokens/{st.token}", None),
    }
    method, path, body = calls[cell]
    return await http.request(method, path, json=body, headers=headers)


async def test_the_matrix_through_rest(room: Room) -> None:
    headers = {}
    async with room.runtime.db.transaction() as session:
        for principal, token in [(p, f"{p}-token") for p in m.PERSONS] + [("ci", "ci")]:
            _row, clear = await create_token(session, token, [Scope.ADMIN], SYSTEM)
            headers[principal] = {"Authorization": f"Bearer {clear}"}
    for principal in (*m.PERSONS, m.TOKEN):
        me = "token:ci" if principal == m.TOKEN else principal
        for cell in m.CELLS:

            async def act(st: m.Stage, principal: str = principal, me: str = me, cell: str = cell) -> Outcome:
                response = await rest_call(room.http, headers[principal], me, cell, st)
                if response.status_code == 403:
                    body = response.json()
                    assert body["code"] == "forbidden" and body["hint"].startswith("allowed: ")
                    return str(body["rule"])
                assert response.is_success, (principal, cell, response.status_code, response.text)
                return None

            await check(room, principal, cell, act)


# -- CLI -------------------------------------------------------------------------------------

runner = CliRunner()


def cli_args(me: str, cell: str, st: m.Stage) -> list[str]:
    n = next(_n)
    role = m.role_of(cell)
    if role is not None:
        return ["incident", "assign", st.ref, role.value, "eve" if cell.startswith("give") else me]
    commands = {
        "declare": ["incident", "declare", "--title", "declared at the command line"],
        "severity_up": ["incident", "update", st.ref, "--severity", "SEV2"],
        "severity_down": ["incident", "update", st.ref, "--severity", "SEV4"],
        "status": ["incident", "update", st.ref, "--status", "investigating"],
        "resolve": ["incident", "update", st.ref, "--status", "resolved"],
        "close": ["incident", "update", st.ref, "--status", "closed"],
        "note": ["incident", "note", st.ref, "a note"],
        "run": ["runbook", "run", "change", "--incident", st.ref, "--input", f"key=c{n}", "--no-wait"],
        "approve": ["runbook", "approve", str(st.run), "--no-wait"],
        "deny": ["runbook", "deny", str(st.run), "--reason", "no"],
        "cancel": ["runbook", "cancel", str(st.run)],
        "undo": ["runbook", "undo", str(st.run), "--no-wait"],
        "silence_create": ["silence", "create", "--match", f'n="{n}"', "--duration", "10m", "--reason", "r"],
        "silence_expire": ["silence", "expire", str(st.silence)],
        "token_create": ["token", "create", f"new-{n}", "--scope", "read"],
        "token_revoke": ["token", "revoke", str(st.token)],
    }
    return commands[cell]


async def test_the_matrix_through_the_cli(
    room: Room, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = room.runtime.settings
    config = tmp_path / "cli.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "people": m.PEOPLE,
                "groups": m.GROUPS,
                "permissions": m.PERMISSIONS,
                "runbooks_dir": str(settings.runbooks_path),
            }
        )
    )
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(config))

    def with_test_actions(cli_settings: Settings) -> Runtime:
        runtime = Runtime.build(cli_settings)
        runtime.integrations = Integrations(make_registry(store))
        return runtime

    monkeypatch.setattr(runbook_cmd, "build_runtime", with_test_actions)
    for principal in m.PERSONS:
        for cell in m.CELLS:

            async def act(st: m.Stage, principal: str = principal, cell: str = cell) -> Outcome:
                args = ["--as", principal, *cli_args(principal, cell, st)]
                result = await asyncio.to_thread(runner.invoke, cli_app, args)
                if result.exit_code == 2:
                    assert result.output.count("\n") == 1 and result.output.startswith("error: "), (
                        result.output
                    )
                    return result.output.rsplit("(", 1)[1].rstrip(")\n")
                assert not result.output.startswith("error:") and result.exit_code in (0, 1), (
                    principal,
                    cell,
                    result.output,
                )
                return None

            await check(room, principal, cell, act)


# -- Slack -----------------------------------------------------------------------------------


def slack_text(cell: str, st: m.Stage) -> str:
    n = next(_n)
    role = m.role_of(cell)
    if role is not None:
        return f"{st.ref} role {role.value} " + ("<@UEVE|eve>" if cell.startswith("give") else "me")
    return (
        f"{st.ref} "
        + {
            "severity_up": "sev 2",
            "severity_down": "sev 4",
            "status": "status investigating",
            "resolve": "resolve",
            "close": "status closed",
            "note": "note a note",
            "run": f"runbook run change key=s{n}",
            "approve": f"approve {st.run}",
            "deny": f"deny {st.run} no",
            "cancel": f"cancel {st.run}",
            "undo": f"undo {st.run}",
        }[cell]
    )


async def slack_declare(room: Room, user: str) -> str:
    rid, url = room.response_url()
    values = {
        BlockId.DECLARE_TITLE: {InputId.TITLE: {"type": "plain_text_input", "value": "declared in Slack"}},
        BlockId.DECLARE_SEVERITY: {
            InputId.SEVERITY: {"type": "static_select", "selected_option": {"value": "SEV3"}}
        },
    }
    metadata = json.dumps({"response_url": url, "channel": room.general})
    await room.interact(sr.view_submission(values, user=user, user_name=user, private_metadata=metadata))
    await room.settle()
    return "\n".join(str(a.get("text", "")) for a in room.fake.responses_to(rid))


async def test_the_matrix_through_slack(room: Room) -> None:
    slack_cells = [c for c in m.CELLS if not c.startswith(("silence", "token"))]
    for principal in m.PERSONS:
        user = SLACK_IDS[principal]
        for cell in slack_cells:

            async def act(st: m.Stage, user: str = user, cell: str = cell) -> Outcome:
                if cell == "declare":
                    text = await slack_declare(room, user)
                else:
                    reply = await room.command(slack_text(cell, st), user=user)
                    await room.settle()
                    text = reply.text()
                assert text, (user, cell)
                if text.startswith(":warning:"):
                    assert "\n_allowed: " in text, text
                    return text.rsplit("(", 1)[1].rstrip(")_")
                return None

            await check(room, principal, cell, act)


# -- the bot ---------------------------------------------------------------------------------


async def bot_call(rt: Runtime, cell: str, st: m.Stage) -> None:
    n = next(_n)
    authz, db = rt.authz, rt.db
    role = m.role_of(cell)
    updates = {
        "severity_up": IncidentUpdate(severity=Severity.SEV2),
        "severity_down": IncidentUpdate(severity=Severity.SEV4),
        "status": IncidentUpdate(status=Status.INVESTIGATING),
        "resolve": IncidentUpdate(status=Status.RESOLVED),
        "close": IncidentUpdate(status=Status.CLOSED),
    }
    if cell in updates:
        await incident_flows.update_incident(db, st.ref, updates[cell], SYSTEM, authz=authz)
    elif role is not None:
        assignee = "eve" if cell.startswith("give") else SYSTEM.id
        await incident_flows.assign_role(db, st.ref, role, assignee, SYSTEM, authz=authz)
    elif cell == "declare":
        await incident_flows.declare_incident(
            db, IncidentCreate(title="opened by routing"), SYSTEM, authz=authz
        )
    elif cell == "note":
        await incident_flows.add_note(db, st.ref, "a note", SYSTEM, authz=authz)
    elif cell == "run":
        await runbook_flows.start_run(rt, "change", st.ref, {"key": f"b{n}"}, SYSTEM)
    elif cell == "approve":
        await runbook_flows.approve(rt, str(st.run), SYSTEM)
    elif cell == "deny":
        await runbook_flows.deny(rt, str(st.run), SYSTEM, "no")
    elif cell == "cancel":
        await runbook_flows.cancel(rt, str(st.run), SYSTEM)
    elif cell == "undo":
        await runbook_flows.undo(rt, str(st.run), SYSTEM)
    elif cell == "silence_create":
        silence = SilenceCreate(matchers=[f'n="{n}"'], duration_s=600, reason="r")
        await alert_flows.create_silence(db, silence, SYSTEM, authz=authz)
    elif cell == "silence_expire":
        await alert_flows.expire_silence(db, st.silence or 0, SYSTEM, authz=authz)
    elif cell == "token_create":
        await auth_flows.create_token(db, f"new-{n}", [Scope.READ], SYSTEM, authz=authz)
    else:
        await auth_flows.revoke_token(db, str(st.token), SYSTEM, authz=authz)


async def test_the_matrix_for_the_bot(room: Room) -> None:
    for cell in m.CELLS:

        async def act(st: m.Stage, cell: str = cell) -> Outcome:
            try:
                await bot_call(room.runtime, cell, st)
            except RefusedError as exc:
                return exc.rule
            return None

        await check(room, m.BOT, cell, act)


def test_the_table_covers_every_principal_and_action() -> None:
    actions = {action for action, _row in m.CELLS.values()}
    assert len(actions) == 16 and len(m.CELLS) == 24
    assert all(set(row) == set(m.ALL) for _action, row in m.CELLS.values())
