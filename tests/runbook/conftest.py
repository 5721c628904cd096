"""Runbook test fixtures: a runtime whose actions act on an in-memory store, a folder of
runbooks written by the tests, an incident with a commander."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.auth.actor import SYSTEM, Actor, Interface
from bot.config import load_settings
from bot.incident import flows as incident_flows
from bot.incident.domain import Role, Severity
from bot.incident.schemas import IncidentCreate
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from integrations.wiring import Integrations
from tests.runbook.actions import Store, make_registry

ALICE = Actor(id="U-alice", kind="person", interface=Interface.SLACK, name="alice")
BOB = Actor(id="U-bob", kind="person", interface=Interface.SLACK, name="bob")
CAROL = Actor(id="U-carol", kind="person", interface=Interface.SLACK, name="carol")
DAVE = Actor(id="U-dave", kind="person", interface=Interface.SLACK, name="dave")

FAST = {
    "default_timeout": 5,
    "default_retries": {"max": 0, "backoff": 0.01},
    "lease": 5,
    "poll_interval": 0.05,
    "approval_expiry": 600,
}


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def runbooks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    return folder


WriteRunbook = Callable[[str, str], Path]


@pytest.fixture
def write_runbook(runbooks_dir: Path) -> WriteRunbook:
    def write(name: str, body: str) -> Path:
        path = runbooks_dir / f"{name}.yaml"
        path.write_text(f"name: {name}\ntitle: {name} runbook\nowner: tests\n" + textwrap.dedent(body))
        return path

    return write


def make_runtime(
    db_url: str,
    runbooks_dir: Path,
    store: Store,
    *,
    permissions: dict[str, Any] | None = None,
    people: list[dict[str, Any]] | None = None,
    groups: dict[str, list[str]] | None = None,
    **runbooks: Any,
) -> Runtime:
    settings = load_settings(
        people=people or [],
        groups=groups or {},
        database_url=db_url,
        runbooks_dir=runbooks_dir,
        runbooks={**FAST, **runbooks},
        # Test runbooks change a store, not a model: their own approval policy applies as written.
        permissions={"runs_without_approval": ["*"], **(permissions or {})},
    )
    runtime = Runtime.build(settings)
    runtime.integrations = Integrations(make_registry(store))
    return runtime


@pytest.fixture
async def rt(db_url: str, runbooks_dir: Path, store: Store) -> AsyncIterator[Runtime]:
    runtime = make_runtime(db_url, runbooks_dir, store)
    yield runtime
    await runtime.db.dispose()


@pytest.fixture
def runtime(rt: Runtime) -> Runtime:
    """The runtime of the ``client`` and ``tokens`` fixtures: this folder's actions and runbooks."""
    return rt


async def declare(
    runtime: Runtime,
    *,
    severity: Severity = Severity.SEV2,
    labels: dict[str, str] | None = None,
    models: list[str] | None = None,
    suggested: list[str] | None = None,
    commander: Actor | None = ALICE,
    declarer: Actor = ALICE,
) -> str:
    incident = await incident_flows.declare_incident(
        runtime.db,
        IncidentCreate(
            title="model drift",
            severity=severity,
            labels=labels or {},
            models=models or [],
            suggested_runbooks=suggested or [],
        ),
        declarer,
        authz=runtime.authz,
    )
    if commander is not None:
        await incident_flows.assign_role(
            runtime.db, incident.ref, Role.COMMANDER, commander.id, SYSTEM, authz=runtime.authz
        )
    return incident.ref


async def timeline_kinds(runtime: Runtime, incident: str, prefix: str = "runbook_") -> list[str]:
    return [
        e.kind for e in await incident_flows.get_timeline(runtime.db, incident) if e.kind.startswith(prefix)
    ]


async def events(runtime: Runtime, incident: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in await incident_flows.get_timeline(runtime.db, incident) if e.kind == kind]


FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.UNDONE}


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.02) -> Any:
    """Poll the async ``check`` until it returns something truthy; fail after ``timeout_s``."""
    for _ in range(int(timeout_s / interval_s)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")
