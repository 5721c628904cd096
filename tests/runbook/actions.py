"""In-process test actions for the engine: a key/value store the actions set to targets, with
knobs for failures (retryable, rejected), slowness (timeouts) and an apply log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from bot.errors import RejectedIntegrationError, RetryableIntegrationError
from bot.runbook.builtin import register_builtin_actions
from integrations.base import (
    ActionContext,
    ActionParams,
    ActionRegistry,
    ActionResult,
    BaseAction,
    CheckResult,
    Invocation,
    Plan,
)
from integrations.metrics.actions import WaitUntilAction
from integrations.metrics.protocol import QueryResult, Sample


@dataclass
class Store:
    """The "external system": values by key, and every call made to it."""

    values: dict[str, Any] = field(default_factory=dict)
    applies: list[tuple[str, str, Any]] = field(default_factory=list)
    plans: list[tuple[str, str]] = field(default_factory=list)
    #: Failures to raise on the next applies of a key: "retryable", "rejected", "boom".
    failures: dict[str, list[str]] = field(default_factory=dict)
    #: Seconds the next applies of a key sleep before setting the value (one entry per apply).
    delays: dict[str, list[float]] = field(default_factory=dict)
    #: Seconds the next applies of a key hang after setting the value (its outcome is then
    #: unknown to a caller that times out).
    hangs: dict[str, list[float]] = field(default_factory=dict)

    def fail(self, key: str, *kinds: str) -> None:
        self.failures.setdefault(key, []).extend(kinds)

    def applied(self, key: str) -> list[Any]:
        return [value for _action, k, value in self.applies if k == key]


class SetParams(ActionParams):
    key: str = Field(min_length=1)
    value: Any = None


class SetAction(BaseAction[SetParams]):
    """Sets ``key`` to ``value`` (idempotent); inverse: set it back."""

    params_model = SetParams
    mutating = True

    def __init__(self, store: Store, name: str = "test.set") -> None:
        self.store = store
        self.name = name
        self.description = "Set a key of the test store."

    def target(self, params: SetParams) -> str:
        return f"store:{params.key}"

    async def plan(self, params: SetParams, ctx: ActionContext) -> Plan:
        self.store.plans.append((self.name, params.key))
        current = self.store.values.get(params.key)
        return Plan(
            target=self.target(params),
            current={"value": current},
            intended={"value": params.value},
            summary=f"{params.key}: {current} → {params.value}",
        )

    async def apply(self, params: SetParams, ctx: ActionContext) -> ActionResult:
        pending = self.store.failures.get(params.key)
        if pending:
            kind = pending.pop(0)
            if kind == "retryable":
                raise RetryableIntegrationError(f"store unavailable for {params.key}", system="store")
            if kind == "rejected":
                raise RejectedIntegrationError(f"store refuses {params.key}", system="store", status=403)
            raise RuntimeError(f"unexpected failure on {params.key}")
        delays = self.store.delays.get(params.key)
        if delays:
            await asyncio.sleep(delays.pop(0))
        before = self.store.values.get(params.key)
        self.store.values[params.key] = params.value
        self.store.applies.append((self.name, params.key, params.value))
        hangs = self.store.hangs.get(params.key)
        if hangs:
            await asyncio.sleep(hangs.pop(0))
        return ActionResult(
            target=self.target(params),
            before={"value": before},
            after={"value": params.value},
            summary=f"{params.key}: {before} → {params.value}",
        )

    def inverse(self, params: SetParams, before: dict[str, Any]) -> Invocation | None:
        return Invocation(self.name, {"key": params.key, "value": before.get("value")})


class ReadParams(ActionParams):
    key: str


class ReadAction(BaseAction[ReadParams]):
    """Read-only: reports a key's value; fails (rejected) when it differs from ``expect``."""

    name = "test.read"
    description = "Read a key of the test store."
    params_model = ReadParams
    mutating = False

    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, params: ReadParams) -> str:
        return f"store:{params.key}"

    async def plan(self, params: ReadParams, ctx: ActionContext) -> Plan:
        value = self.store.values.get(params.key)
        return Plan(self.target(params), {"value": value}, {"value": value}, f"read {params.key}")

    async def apply(self, params: ReadParams, ctx: ActionContext) -> ActionResult:
        value = self.store.values.get(params.key)
        self.store.applies.append((self.name, params.key, value))
        return ActionResult(self.target(params), {}, {"value": value}, f"{params.key} is {value}")


class StoreMetrics:
    """A metrics source answering every expression with ``metric:<expr>`` of the store (0.0
    when unset): what the real ``metrics.wait_until`` polls in engine tests."""

    name = "prom"
    kind = "prometheus"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def query(self, expr: str) -> QueryResult:
        value = float(self.store.values.get(f"metric:{expr}", 0.0))
        return QueryResult(expr, "vector", (Sample({}, value),))

    async def check(self) -> CheckResult:
        return CheckResult(self.name, self.kind, "memory://", reachable=True)

    async def aclose(self) -> None:
        return None


def make_registry(store: Store) -> ActionRegistry:
    registry = ActionRegistry()
    registry.register(SetAction(store))
    registry.register(SetAction(store, "test.set_other"))
    registry.register(ReadAction(store))
    registry.register(WaitUntilAction({"prom": StoreMetrics(store)}))
    register_builtin_actions(registry)
    return registry
