"""The shipped rollback-model runbook against a real MLflow server with the real registry
actions: dry-run, run (the alias moves back), undo (it moves forward again), a second rollback
following the alias history. The metric check is a stand-in (the metrics kind lands apart)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bot.config import DEFAULT_RUNBOOKS_DIR
from bot.incident.domain import Severity
from bot.runbook import flows
from bot.runbook.states import RunStatus
from bot.runtime import Runtime
from integrations.base import ActionRegistry
from integrations.registry.actions import register_actions
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from integrations.wiring import Integrations
from tests.runbook.actions import Store
from tests.runbook.conftest import ALICE, declare, make_runtime
from tests.runbook.standins import Schedule, WaitUntil
from tests.system.fixtures.mlflow import (  # noqa: F401  (the session fixture)
    MlflowServer,
    create_model,
    create_version,
    mlflow_server,
    set_alias,
)

pytestmark = pytest.mark.system


@pytest.fixture
async def registry(mlflow_server: MlflowServer) -> AsyncIterator[ModelRegistry]:  # noqa: F811
    instance = build_instance("prod-mlflow", MlflowRegistryConfig(kind="mlflow", url=mlflow_server.url))
    yield instance
    await instance.aclose()


@pytest.fixture
def model(mlflow_server: MlflowServer) -> str:  # noqa: F811
    """v1 and v2 validated, v3 not; champion points at v3."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    create_model(mlflow_server.url, name)
    create_version(mlflow_server.url, name, "s3://dummy/1", {"validated": "true"})
    create_version(mlflow_server.url, name, "s3://dummy/2", {"validated": "true"})
    create_version(mlflow_server.url, name, "s3://dummy/3")
    set_alias(mlflow_server.url, name, "champion", "3")
    return name


@pytest.fixture
async def mlflow_runtime(db_url: str, registry: ModelRegistry, model: str) -> AsyncIterator[Runtime]:
    store = Store(values={f'metric:model:prediction_errors:ratio_rate5m{{model="{model}"}}': 0.01})
    runtime = make_runtime(db_url, DEFAULT_RUNBOOKS_DIR, store)
    actions = ActionRegistry()
    register_actions(actions, {registry.name: registry})
    actions.register(WaitUntil(store))
    actions.register(Schedule(store, paused=True))
    runtime.integrations = Integrations(actions)
    yield runtime
    await runtime.db.dispose()


async def champion(registry: ModelRegistry, model: str) -> str | None:
    version = await registry.get_alias(model, "champion")
    return version.version if version else None


async def test_rollback_model_against_mlflow(
    mlflow_runtime: Runtime, registry: ModelRegistry, model: str
) -> None:
    incident = await declare(mlflow_runtime, severity=Severity.SEV1, labels={"model": model}, models=[model])
    plan = await flows.plan_run(mlflow_runtime, "rollback-model", incident, {}, ALICE)
    assert plan.steps[0].summary == f"alias champion of {model}: v3 → v2"
    assert plan.steps[0].target == f"registry:prod-mlflow/{model}@champion"
    assert await champion(registry, model) == "3"

    run = await flows.start_run(mlflow_runtime, "rollback-model", incident, {}, ALICE)
    done = await flows.execute(mlflow_runtime, run.ref)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert (done.steps[0].before, done.steps[0].after) == ({"version": "3"}, {"version": "2"})
    assert await champion(registry, model) == "2"

    undone = await flows.execute(mlflow_runtime, (await flows.undo(mlflow_runtime, run.ref, ALICE)).ref)
    assert undone.status == RunStatus.UNDONE, undone.error
    assert undone.undo_steps[0].action == "registry.set_alias"
    assert await champion(registry, model) == "3"

    # The undo recorded the move 2 → 3 in the alias history: a new rollback goes back to v2.
    again = await flows.execute(
        mlflow_runtime, (await flows.start_run(mlflow_runtime, "rollback-model", incident, {}, ALICE)).ref
    )
    assert again.status == RunStatus.SUCCEEDED and await champion(registry, model) == "2"
