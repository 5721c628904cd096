"""The alias actions against a real MLflow: dry-run, set, roll back and forth, undo, refusals."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.errors import ConflictError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry, ActionResult, Invocation
from integrations.registry.actions import register_actions
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from tests.system.fixtures.mlflow import (
    MlflowServer,
    create_model,
    create_run,
    create_version,
    set_alias,
)

pytestmark = [
    pytest.mark.system,
    # integrations/http.py passes tenacity's deprecated `initial=`; drop once main fixes it.
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
]


@pytest.fixture
async def registry(mlflow_server: MlflowServer) -> AsyncIterator[ModelRegistry]:
    config = MlflowRegistryConfig(kind="mlflow", url=mlflow_server.url)
    instance = build_instance("prod-mlflow", config)
    yield instance
    await instance.aclose()


@pytest.fixture
def actions(registry: ModelRegistry) -> ActionRegistry:
    actions = ActionRegistry()
    register_actions(actions, {registry.name: registry})
    return actions


@pytest.fixture
def model(mlflow_server: MlflowServer) -> str:
    """A model with v1 (validated), v2 (validated, from a run), v3 and v4."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    create_model(mlflow_server.url, name)
    run_id = create_run(mlflow_server.url)
    create_version(mlflow_server.url, name, "s3://dummy/1", {"validated": "true"})
    create_version(mlflow_server.url, name, "s3://dummy/2", {"validated": "yes"}, run_id=run_id)
    create_version(mlflow_server.url, name, "s3://dummy/3")
    create_version(mlflow_server.url, name, "s3://dummy/4", {"validated": "false"})
    return name


def ctx(step: str) -> ActionContext:
    return ActionContext(incident_ref="INC-7", run_ref="run-1", step_id=step, actor="alice")


async def run(actions: ActionRegistry, name: str, raw: dict[str, Any], step: str) -> ActionResult:
    action = actions.get(name)
    return await action.apply(action.params_model.model_validate(raw), ctx(step))


async def undo(actions: ActionRegistry, name: str, raw: dict[str, Any],
               result: ActionResult, step: str) -> ActionResult:
    action = actions.get(name)
    inverse = action.inverse(action.params_model.model_validate(raw), result.before)
    assert isinstance(inverse, Invocation)
    return await run(actions, inverse.action, inverse.params, step)


async def alias_version(registry: ModelRegistry, model: str) -> str | None:
    current = await registry.get_alias(model, "champion")
    return current.version if current else None


async def test_set_alias_plan_apply_and_undo_to_unset(
    actions: ActionRegistry, registry: ModelRegistry, model: str
) -> None:
    params = {"model": model, "alias": "champion", "version": "v3"}
    action = actions.get("registry.set_alias")

    plan = await action.plan(action.params_model.model_validate(params), ctx("s1"))
    assert plan.summary == f"alias champion of {model}: (unset) → v3"
    assert plan.target == f"registry:prod-mlflow/{model}@champion"
    assert plan.details["current"] is None
    assert plan.details["target"]["source"] == "s3://dummy/3"
    assert await alias_version(registry, model) is None  # a dry-run changes nothing

    result = await run(actions, "registry.set_alias", params, "s1")
    assert (result.before, result.after) == ({"version": None}, {"version": "3"})
    assert await alias_version(registry, model) == "3"
    moved = json.loads((await registry.get_version(model, "3")).tags[
        "incident_bot.alias.champion.moved"])
    assert moved == {"action": "set", "from": None, "by": "alice", "at": moved["at"],
                     "incident": "INC-7", "run": "run-1", "step": "s1"}

    again = await run(actions, "registry.set_alias", params, "s2")
    assert not again.changed
    assert again.summary == f"alias champion of {model}: already at v3"

    undone = await undo(actions, "registry.set_alias", params, result, "s3")
    assert (undone.before, undone.after) == ({"version": "3"}, {"version": None})
    assert await alias_version(registry, model) is None


async def test_rollback_back_and_forth_with_history_undo_and_validated_fallback(
    actions: ActionRegistry, registry: ModelRegistry, model: str
) -> None:
    base = {"model": model, "alias": "champion"}
    await run(actions, "registry.set_alias", {**base, "version": 3}, "promote-3")
    await run(actions, "registry.set_alias", {**base, "version": 4}, "promote-4")
    assert (await registry.get_version(model, "4")).tags[
        "incident_bot.alias.champion.previous"] == "3"

    rollback = actions.get("registry.rollback_alias")
    plan = await rollback.plan(rollback.params_model.model_validate(base), ctx("rb-1"))
    assert plan.summary == f"alias champion of {model}: v4 → v3"
    assert plan.current == {"version": "4"}
    assert plan.intended == {"version": "3"}
    assert "alias history" in plan.details["reason"]
    older = plan.details["older_versions"]
    assert [v["version"] for v in older] == ["3", "2", "1"]
    assert older[1]["run_id"]
    assert older[1]["tags"] == {"validated": "yes"}
    assert all(v["created_at"] for v in older)
    assert await alias_version(registry, model) == "4"

    first = await run(actions, "registry.rollback_alias", base, "rb-1")
    assert (first.before, first.after) == ({"version": "4"}, {"version": "3"})
    assert await alias_version(registry, model) == "3"

    # The same step applied again (a crash, a retry) recognises its own work.
    replay = await run(actions, "registry.rollback_alias", base, "rb-1")
    assert not replay.changed
    assert replay.after == {"version": "3"}
    assert "by this step" in replay.details["reason"]
    assert await alias_version(registry, model) == "3"

    # Undo puts v4 back; rolling back again returns to v3.
    undone = await undo(actions, "registry.rollback_alias", base, first, "rb-1-undo")
    assert (undone.before, undone.after) == ({"version": "3"}, {"version": "4"})
    second = await run(actions, "registry.rollback_alias", base, "rb-2")
    assert second.after == {"version": "3"}

    # From v3 (reached by rolling back, no earlier history): newest older validated version.
    third = await run(actions, "registry.rollback_alias", base, "rb-3")
    assert (third.before, third.after) == ({"version": "3"}, {"version": "2"})
    assert "tagged validated=true" in third.details["reason"]
    fourth = await run(actions, "registry.rollback_alias", base, "rb-4")
    assert fourth.after == {"version": "1"}

    with pytest.raises(RejectedIntegrationError) as nothing_left:
        await run(actions, "registry.rollback_alias", base, "rb-5")
    message = str(nothing_left.value)
    assert f"cannot roll back alias 'champion' of model '{model}' from v1" in message
    assert "tag a known-good version with validated=true" in message
    assert await alias_version(registry, model) == "1"


async def test_rollback_from_expected_version_is_idempotent_and_detects_moves(
    actions: ActionRegistry, registry: ModelRegistry, model: str, mlflow_server: MlflowServer
) -> None:
    set_alias(mlflow_server.url, model, "champion", "4")  # moved outside the bot: no history
    params = {"model": model, "alias": "champion", "from_version": "4"}

    first = await run(actions, "registry.rollback_alias", params, "a")
    assert (first.before, first.after) == ({"version": "4"}, {"version": "2"})

    # Another run with the same approved plan: already at target, nothing changes.
    again = await run(actions, "registry.rollback_alias", params, "b")
    assert not again.changed
    assert again.summary == f"alias champion of {model}: already at v2"
    assert await alias_version(registry, model) == "2"

    set_alias(mlflow_server.url, model, "champion", "3")
    with pytest.raises(ConflictError) as moved:
        await run(actions, "registry.rollback_alias", params, "c")
    assert "points to v3, not v4 as the plan expected" in str(moved.value)
    assert await alias_version(registry, model) == "3"


async def test_validated_tag_can_be_overridden_per_rollback(
    actions: ActionRegistry, model: str, mlflow_server: MlflowServer, registry: ModelRegistry
) -> None:
    await registry.set_version_tag(model, "3", "qa_passed", "TRUE")
    set_alias(mlflow_server.url, model, "champion", "4")
    raw = {"model": model, "alias": "champion", "validated_tag": "qa_passed"}

    result = await run(actions, "registry.rollback_alias", raw, "x")

    assert result.after == {"version": "3"}


async def test_refusals_name_the_model_alias_and_version(
    actions: ActionRegistry, model: str
) -> None:
    with pytest.raises(RejectedIntegrationError) as unset:
        await run(actions, "registry.rollback_alias", {"model": model, "alias": "champion"}, "x")
    assert f"alias 'champion' of model '{model}' is not set" in str(unset.value)

    with pytest.raises(RejectedIntegrationError) as unknown_version:
        await run(actions, "registry.set_alias",
                  {"model": model, "alias": "champion", "version": 9}, "x")
    assert unknown_version.value.status == 404
    assert f"version 9 of model '{model}'" in str(unknown_version.value)

    with pytest.raises(RejectedIntegrationError) as unknown_model:
        await run(actions, "registry.rollback_alias",
                  {"model": "no-such-model", "alias": "champion"}, "x")
    assert unknown_model.value.status == 404
    assert "'no-such-model'" in str(unknown_model.value)


async def test_delete_alias_and_its_undo(
    actions: ActionRegistry, registry: ModelRegistry, model: str, mlflow_server: MlflowServer
) -> None:
    set_alias(mlflow_server.url, model, "champion", "2")
    params = {"model": model, "alias": "champion"}

    result = await run(actions, "registry.delete_alias", params, "d")
    assert (result.before, result.after) == ({"version": "2"}, {"version": None})
    assert await alias_version(registry, model) is None
    again = await run(actions, "registry.delete_alias", params, "d2")
    assert not again.changed

    await undo(actions, "registry.delete_alias", params, result, "d-undo")
    assert await alias_version(registry, model) == "2"
