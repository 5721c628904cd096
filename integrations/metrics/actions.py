"""Runbook actions of the metrics kind: ``metrics.query`` and ``metrics.wait_until``.

Both are observations: read-only, no inverse, and observed again in full whenever the step
runs (after an interruption too, a ``for_s`` window starts over). ``metrics.query`` records
the current value(s); ``metrics.wait_until`` verifies a mitigation by polling an expression
until a condition holds (optionally for ``for_s`` seconds) or ``timeout_s`` ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from integrations.base import (
    ActionContext,
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    Plan,
    pick_instance,
)
from integrations.metrics.condition import (
    Clock,
    Condition,
    Match,
    OnNoData,
    Op,
    Sleep,
    wait_until,
)
from integrations.metrics.protocol import MetricsSource, QueryResult, sample_to_dict

_WHAT = "metrics"


class QueryParams(ActionParams):
    expr: str = Field(min_length=1, description="PromQL expression (instant vector or scalar)")
    instance: str | None = None


class WaitUntilParams(ActionParams):
    expr: str = Field(min_length=1, description="PromQL expression (instant vector or scalar)")
    op: Op = Field(description="comparison: <, <=, >, >=, ==, !=")
    threshold: float
    for_s: float = Field(0.0, ge=0, description="the condition must hold this long")
    timeout_s: float = Field(300.0, gt=0, le=24 * 3600)
    interval_s: float = Field(15.0, gt=0, le=3600)
    on_no_data: OnNoData = "fail"
    match: Match = Field("all", description="with several series: all must hold, or any")
    instance: str | None = None

    @model_validator(mode="after")
    def _for_fits_in_timeout(self) -> WaitUntilParams:
        if self.for_s > self.timeout_s:
            raise ValueError("for_s must not exceed timeout_s")
        return self

    def condition(self) -> Condition:
        return Condition(self.expr, self.op, self.threshold, self.match)


def _values(result: QueryResult) -> list[dict[str, Any]]:
    return [sample_to_dict(s) for s in result.samples]


class _MetricsAction:
    def __init__(self, instances: Mapping[str, MetricsSource]) -> None:
        self._instances = dict(instances)

    def _source(self, instance: str | None) -> MetricsSource:
        return pick_instance(self._instances, instance, _WHAT)

    def _target(self, instance: str | None, expr: str) -> str:
        return f"metrics:{self._source(instance).name}/{expr}"


class QueryAction(_MetricsAction, BaseAction[QueryParams]):
    name = "metrics.query"
    description = "Evaluate a metrics expression now and record its value(s)."
    params_model = QueryParams
    mutating = False
    kind = ActionKind.OBSERVATION

    def target(self, params: QueryParams) -> str:
        return self._target(params.instance, params.expr)

    async def _read(self, params: QueryParams) -> tuple[dict[str, Any], str, dict[str, Any]]:
        source = self._source(params.instance)
        result = await source.query(params.expr)
        state = {"values": _values(result)}
        details = {
            "instance": source.name,
            "result_type": result.result_type,
            "warnings": list(result.warnings),
        }
        return state, f"{params.expr} = {result.describe()}", details

    async def plan(self, params: QueryParams, ctx: ActionContext) -> Plan:
        state, summary, details = await self._read(params)
        return Plan(self.target(params), state, state, summary, details)

    async def apply(self, params: QueryParams, ctx: ActionContext) -> ActionResult:
        state, summary, details = await self._read(params)
        return ActionResult(self.target(params), state, state, summary, details)


class WaitUntilAction(_MetricsAction, BaseAction[WaitUntilParams]):
    name = "metrics.wait_until"
    description = (
        "Poll a metrics expression until a condition holds (for for_s seconds) or the "
        "timeout ends; verifies that a mitigation worked."
    )
    params_model = WaitUntilParams
    mutating = False
    kind = ActionKind.OBSERVATION

    def __init__(
        self,
        instances: Mapping[str, MetricsSource],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(instances)
        self._clock = clock
        self._sleep = sleep

    def target(self, params: WaitUntilParams) -> str:
        return self._target(params.instance, params.expr)

    def _details(self, params: WaitUntilParams, source: MetricsSource) -> dict[str, Any]:
        return {
            "instance": source.name,
            "condition": params.condition().describe(),
            "for_s": params.for_s,
            "timeout_s": params.timeout_s,
            "interval_s": params.interval_s,
            "on_no_data": params.on_no_data,
        }

    async def plan(self, params: WaitUntilParams, ctx: ActionContext) -> Plan:
        source = self._source(params.instance)
        condition = params.condition()
        result = await source.query(params.expr)
        holds = condition.holds(result)
        if holds is None:
            then = "apply fails" if params.on_no_data == "fail" else "apply waits for data"
            verdict = f"no data ({then})"
        elif holds:
            verdict = f"holds (apply checks it for {params.for_s:g}s)" if params.for_s else "holds"
        else:
            verdict = f"does not hold yet (apply waits up to {params.timeout_s:g}s)"
        summary = f"{condition.describe()}: now {result.describe()}, {verdict}"
        details = {**self._details(params, source), "values": _values(result)}
        return Plan(self.target(params), {"holds": bool(holds)}, {"holds": True}, summary, details)

    async def apply(self, params: WaitUntilParams, ctx: ActionContext) -> ActionResult:
        source = self._source(params.instance)
        condition = params.condition()
        outcome = await wait_until(
            source,
            condition,
            timeout_s=params.timeout_s,
            interval_s=params.interval_s,
            for_s=params.for_s,
            on_no_data=params.on_no_data,
            clock=self._clock,
            sleep=self._sleep,
        )
        before = {"holds": bool(outcome.first_holds), "values": _values(outcome.first)}
        after = {"holds": True, "values": _values(outcome.last)}
        window = f" for {params.for_s:g}s" if params.for_s else ""
        summary = (
            f"{condition.describe()}{window}: holds, now {outcome.last.describe()} "
            f"(after {outcome.waited_s:.0f}s, {outcome.polls} polls)"
        )
        details = {
            **self._details(params, source),
            "polls": outcome.polls,
            "waited_s": round(outcome.waited_s, 3),
        }
        return ActionResult(self.target(params), before, after, summary, details)


def register_actions(registry: ActionRegistry, instances: Mapping[str, MetricsSource]) -> None:
    """Register ``metrics.query`` and ``metrics.wait_until`` over the configured instances."""
    registry.register(QueryAction(instances))
    registry.register(WaitUntilAction(instances))
