"""Alias actions without a server: params, targets, inverses, instance choice, refusals.

Their behaviour against MLflow (dry-run, set, rollback, undo) is in tests/system.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry, Invocation
from integrations.registry.actions import (
    RollbackAliasParams,
    SetAliasParams,
    register_actions,
)
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig
from integrations.registry.protocol import ModelRegistry
from tests.integrations.registry.mlflow_mock import FakeMlflow, version_json

pytestmark = [
    # integrations/http.py passes tenacity's deprecated `initial=`; drop once main fixes it.
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
]

API = "/api/2.0/mlflow"


@pytest.fixture
def fake() -> FakeMlflow:
    return FakeMlflow()


@pytest.fixture
async def instances(fake: FakeMlflow) -> AsyncIterator[dict[str, ModelRegistry]]:
    built = {
        name: build_instance(
            name,
            MlflowRegistryConfig(kind="mlflow", url=f"http://{name}.test"),
            transport=fake.transport(),
        )
        for name in ("prod", "staging")
    }
    yield built
    for instance in built.values():
        await instance.aclose()


def actions_for(instances: dict[str, ModelRegistry]) -> ActionRegistry:
    actions = ActionRegistry()
    register_actions(actions, instances)
    return actions


@pytest.fixture
def prod_only(instances: dict[str, ModelRegistry]) -> ActionRegistry:
    return actions_for({"prod": instances["prod"]})


def parse(actions: ActionRegistry, name: str, raw: dict[str, Any]) -> Any:
    return actions.get(name).params_model.model_validate(raw)


def test_the_actions_are_registered_once(prod_only: ActionRegistry) -> None:
    assert prod_only.names() == [
        "registry.delete_alias", "registry.rollback_alias", "registry.set_alias"
    ]
    assert all(action.mutating for action in prod_only)


@pytest.mark.parametrize(("raw", "parsed"), [(7, "7"), ("7", "7"), ("v7", "7"), (" 07 ", "7")])
def test_versions_accept_numbers_and_v_prefix(raw: object, parsed: str) -> None:
    params = SetAliasParams.model_validate({"model": "m", "alias": "a", "version": raw})
    assert params.version == parsed


@pytest.mark.parametrize("raw", ["seven", "0", "-1", "", "7.1", None])
def test_bad_versions_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError, match="a version is a positive number"):
        SetAliasParams.model_validate({"model": "m", "alias": "a", "version": raw})


def test_unknown_params_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RollbackAliasParams.model_validate({"model": "m", "alias": "a", "to": "3"})


def test_target_names_instance_model_and_alias(
    prod_only: ActionRegistry, instances: dict[str, ModelRegistry]
) -> None:
    raw = {"model": "fraud", "alias": "champion", "version": 3}
    action = prod_only.get("registry.set_alias")
    assert action.target(parse(prod_only, "registry.set_alias", raw)) == (
        "registry:prod/fraud@champion"
    )

    both = actions_for(instances)
    with pytest.raises(InputError, match="several registries instances"):
        both.get("registry.set_alias").target(parse(both, "registry.set_alias", raw))
    named = parse(both, "registry.set_alias", {**raw, "instance": "staging"})
    assert both.get("registry.set_alias").target(named) == "registry:staging/fraud@champion"
    with pytest.raises(InputError, match="unknown registries instance 'qa'"):
        both.get("registry.set_alias").target(
            parse(both, "registry.set_alias", {**raw, "instance": "qa"})
        )


def test_inverses_restore_the_state_before(prod_only: ActionRegistry) -> None:
    base = {"model": "fraud", "alias": "champion"}
    ident = {"instance": "prod", **base}

    def inverse(name: str, raw: dict[str, Any], before: dict[str, Any]) -> Invocation | None:
        return prod_only.get(name).inverse(parse(prod_only, name, raw), before)

    set_raw = {**base, "version": 4}
    assert inverse("registry.set_alias", set_raw, {"version": "3"}) == Invocation(
        "registry.set_alias", {**ident, "version": "3"}
    )
    assert inverse("registry.set_alias", set_raw, {"version": None}) == Invocation(
        "registry.delete_alias", ident
    )
    assert inverse("registry.rollback_alias", base, {"version": "4"}) == Invocation(
        "registry.set_alias", {**ident, "version": "4"}
    )
    assert inverse("registry.delete_alias", base, {"version": "2"}) == Invocation(
        "registry.set_alias", {**ident, "version": "2"}
    )
    assert inverse("registry.delete_alias", base, {"version": None}) is None


async def test_an_alias_cannot_point_at_a_version_that_is_not_ready(
    prod_only: ActionRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        200, json={"registered_model": {"name": "fraud", "aliases": []}}
    )
    fake.routes[("GET", f"{API}/model-versions/get")] = httpx.Response(
        200, json={"model_version": version_json("8", status="PENDING_REGISTRATION")}
    )
    action = prod_only.get("registry.set_alias")
    params = parse(prod_only, "registry.set_alias",
                   {"model": "fraud", "alias": "champion", "version": 8})

    with pytest.raises(RejectedIntegrationError) as refused:
        await action.apply(params, ActionContext())

    assert "version 8 of model 'fraud' is PENDING_REGISTRATION, not READY" in str(refused.value)
    assert refused.value.system == "prod"
    assert [r.method for r in fake.requests] == ["GET", "GET"]  # nothing was written


async def test_plan_of_deleting_an_unset_alias_says_so(
    prod_only: ActionRegistry, fake: FakeMlflow
) -> None:
    fake.routes[("GET", f"{API}/registered-models/get")] = httpx.Response(
        200, json={"registered_model": {"name": "fraud"}}
    )
    action = prod_only.get("registry.delete_alias")
    params = parse(prod_only, "registry.delete_alias", {"model": "fraud", "alias": "champion"})

    plan = await action.plan(params, ActionContext())
    result = await action.apply(params, ActionContext())

    assert plan.summary == "alias champion of fraud: already (unset)"
    assert not plan.changes
    assert not result.changed
    assert all(r.method == "GET" for r in fake.requests)
