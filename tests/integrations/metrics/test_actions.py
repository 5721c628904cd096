from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from bot.errors import InputError, RejectedIntegrationError
from integrations.base import ActionContext, ActionRegistry
from integrations.metrics.actions import (
    QueryAction,
    QueryParams,
    WaitUntilAction,
    WaitUntilParams,
    register_actions,
)
from integrations.metrics.protocol import ConditionNotMetError
from tests.integrations.metrics.helpers import (
    FakeClock,
    ScriptedPrometheus,
    scalar,
    source,
    vector,
)

CTX = ActionContext(incident_ref="INC-1", step_id="verify")


def wait_action(prom: ScriptedPrometheus, clock: FakeClock) -> WaitUntilAction:
    return WaitUntilAction({"prom": source(prom)}, clock=clock, sleep=clock.sleep)


def wait_params(**overrides: object) -> WaitUntilParams:
    raw = {"expr": "err", "op": "<", "threshold": 0.05, "timeout_s": 60, "interval_s": 5}
    return WaitUntilParams.model_validate({**raw, **overrides})


def test_register_actions_adds_both_read_only_actions() -> None:
    registry = ActionRegistry()
    register_actions(registry, {"prom": source(ScriptedPrometheus())})
    assert registry.names() == ["metrics.query", "metrics.wait_until"]
    assert not any(action.mutating for action in registry)


async def test_query_records_the_values_and_changes_nothing() -> None:
    prom = ScriptedPrometheus(vector(({"job": "api"}, "0.5"), ({"job": "db"}, "NaN")))
    action = QueryAction({"prom": source(prom)})
    params = QueryParams(expr="err")
    plan = await action.plan(params, CTX)
    assert not plan.changes
    assert plan.summary == 'err = {job="api"} = 0.5, {job="db"} = NaN'
    result = await action.apply(params, CTX)
    assert not result.changed
    assert result.after == {
        "values": [
            {"labels": {"job": "api"}, "value": 0.5},
            {"labels": {"job": "db"}, "value": "NaN"},
        ]
    }
    json.dumps(result.after, allow_nan=False)  # storable in a JSON column
    assert result.details["result_type"] == "vector"
    assert action.target(params) == "metrics:prom/err"
    assert action.inverse(params, result.before) is None


async def test_plan_of_wait_says_current_value_versus_condition() -> None:
    clock = FakeClock()
    action = wait_action(ScriptedPrometheus(vector(({}, "0.2"))), clock)
    plan = await action.plan(wait_params(), CTX)
    assert plan.summary == "err < 0.05: now 0.2, does not hold yet (apply waits up to 60s)"
    assert (plan.current, plan.intended) == ({"holds": False}, {"holds": True})
    assert plan.details["values"] == [{"labels": {}, "value": 0.2}]
    assert clock.sleeps == []


async def test_plan_of_wait_when_holding_and_when_no_data() -> None:
    clock = FakeClock()
    holding = await wait_action(ScriptedPrometheus(scalar("0.01")), clock).plan(wait_params(for_s=30), CTX)
    assert holding.summary == "err < 0.05: now 0.01, holds (apply checks it for 30s)"
    assert not holding.changes
    empty = await wait_action(ScriptedPrometheus(vector()), clock).plan(wait_params(), CTX)
    assert empty.summary == "err < 0.05: now no data, no data (apply fails)"
    waiting = await wait_action(ScriptedPrometheus(vector()), clock).plan(wait_params(on_no_data="wait"), CTX)
    assert waiting.summary.endswith("no data (apply waits for data)")


async def test_apply_polls_until_it_holds_and_reports_before_and_after() -> None:
    clock = FakeClock()
    prom = ScriptedPrometheus(vector(({}, "0.2")), vector(({}, "0.1")), vector(({}, "0.02")))
    result = await wait_action(prom, clock).apply(wait_params(), CTX)
    assert result.before == {"holds": False, "values": [{"labels": {}, "value": 0.2}]}
    assert result.after == {"holds": True, "values": [{"labels": {}, "value": 0.02}]}
    assert result.summary == "err < 0.05: holds, now 0.02 (after 10s, 3 polls)"
    assert (result.details["polls"], result.details["waited_s"]) == (3, 10)
    assert clock.sleeps == [5, 5]


async def test_apply_raises_with_last_value_on_timeout() -> None:
    clock = FakeClock()
    action = wait_action(ScriptedPrometheus(vector(({}, "0.2"))), clock)
    with pytest.raises(ConditionNotMetError, match=r"last value: 0\.2"):
        await action.apply(wait_params(timeout_s=20), CTX)
    assert clock.now == 1020


async def test_apply_propagates_query_errors() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "error": "parse error"})

    action = WaitUntilAction({"prom": source(broken)})
    with pytest.raises(RejectedIntegrationError, match="parse error"):
        await action.apply(wait_params(), CTX)


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="for_s must not exceed timeout_s"):
        wait_params(for_s=120, timeout_s=60)
    with pytest.raises(ValidationError, match="op"):
        wait_params(op="=>")
    with pytest.raises(ValidationError, match="extra"):
        wait_params(treshold=1)
    with pytest.raises(ValidationError):
        wait_params(interval_s=0)


async def test_instance_is_picked_by_name_or_must_be_named() -> None:
    clock = FakeClock()
    first = source(ScriptedPrometheus(scalar("1")), name="a")
    second = source(ScriptedPrometheus(scalar("2")), name="b")
    action = QueryAction({"a": first, "b": second})
    with pytest.raises(InputError, match="several metrics instances"):
        action.target(QueryParams(expr="x"))
    plan = await action.plan(QueryParams(expr="x", instance="b"), CTX)
    assert plan.summary == "x = 2"
    assert plan.target == "metrics:b/x"
    with pytest.raises(InputError, match="unknown metrics instance 'c'"):
        await action.plan(QueryParams(expr="x", instance="c"), CTX)
    assert clock.sleeps == []
