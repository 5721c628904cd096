"""Conditions on query results, and the poll loop that waits for one to hold.

A condition is ``<value> <op> <threshold>``. With several series, ``match: all`` (default)
needs every series to satisfy it, ``match: any`` one of them. NaN never satisfies a
condition (not even ``!=``): a NaN error ratio means "no traffic", not "healthy".
Time comes from an injected clock and sleep so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import math
import operator
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from integrations.metrics.protocol import (
    ConditionNotMetError,
    MetricsSource,
    QueryResult,
    format_value,
)

Op = Literal["<", "<=", ">", ">=", "==", "!="]
Match = Literal["all", "any"]
OnNoData = Literal["fail", "wait"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Condition:
    expr: str
    op: Op
    threshold: float
    match: Match = "all"

    def describe(self) -> str:
        quantifier = "any series of " if self.match == "any" else ""
        return f"{quantifier}{self.expr} {self.op} {format_value(self.threshold)}"

    def holds(self, result: QueryResult) -> bool | None:
        """True/False, or None when the result is empty (no data)."""
        if result.empty:
            return None
        compare = _OPS[self.op]
        checks = (not math.isnan(s.value) and compare(s.value, self.threshold) for s in result.samples)
        return all(checks) if self.match == "all" else any(checks)


@dataclass(frozen=True)
class WaitOutcome:
    """A wait that succeeded: the first and last results, how long and how many polls."""

    first: QueryResult
    first_holds: bool | None
    last: QueryResult
    polls: int
    waited_s: float


async def wait_until(
    source: MetricsSource,
    condition: Condition,
    *,
    timeout_s: float,
    interval_s: float,
    for_s: float = 0.0,
    on_no_data: OnNoData = "fail",
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> WaitOutcome:
    """Poll until ``condition`` has held for ``for_s`` seconds; raise when ``timeout_s`` ends.

    Raises :class:`ConditionNotMetError` with the last value on timeout, or at once on an
    empty result when ``on_no_data`` is ``fail``.
    """
    start = clock()
    deadline = start + timeout_s
    held_since: float | None = None
    first: tuple[QueryResult, bool | None] | None = None
    polls = 0
    while True:
        result = await source.query(condition.expr)
        now = clock()
        polls += 1
        holds = condition.holds(result)
        if first is None:
            first = (result, holds)
        if holds is None and on_no_data == "fail":
            raise _no_data(source, condition)
        if holds:
            held_since = now if held_since is None else held_since
            if now - held_since >= for_s:
                return WaitOutcome(first[0], first[1], result, polls, now - start)
        else:
            held_since = None
        if now >= deadline:
            raise _timeout(source, condition, result, polls, now - start, held_since, now, for_s)
        await sleep(min(interval_s, deadline - now))


def _system(source: MetricsSource) -> str:
    return f"{source.kind} instance {source.name!r}"


def _no_data(source: MetricsSource, condition: Condition) -> ConditionNotMetError:
    return ConditionNotMetError(
        f"{_system(source)}: query {condition.expr!r} returned no data",
        system=_system(source),
        call=f"waiting for {condition.describe()}",
        hint="check the metric name and label matchers; set on_no_data: wait if the series "
        "only appears later",
        reason="no_data",
    )


def _timeout(
    source: MetricsSource,
    condition: Condition,
    last: QueryResult,
    polls: int,
    waited_s: float,
    held_since: float | None,
    now: float,
    for_s: float,
) -> ConditionNotMetError:
    held = (
        f"; it held for {now - held_since:.0f}s of the required {for_s:.0f}s"
        if held_since is not None
        else ""
    )
    return ConditionNotMetError(
        f"{_system(source)}: {condition.describe()} not met after {waited_s:.0f}s "
        f"({polls} polls); last value: {last.describe()}{held}",
        system=_system(source),
        call=f"waiting for {condition.describe()}",
        hint="the mitigation may not have worked: check the service; or raise timeout_s",
        reason="timeout",
        last_value=last.describe(),
    )
