from __future__ import annotations

import pytest

from integrations.metrics.condition import Condition, Op, wait_until
from integrations.metrics.protocol import ConditionNotMetError, QueryResult, Sample
from tests.integrations.metrics.helpers import FakeClock, ScriptedPrometheus, source, vector


def result(*values: float) -> QueryResult:
    samples = tuple(Sample(labels={"i": str(i)}, value=v) for i, v in enumerate(values))
    return QueryResult("x", "vector", samples)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("<", 0.04, True),
        ("<", 0.05, False),
        ("<=", 0.05, True),
        (">", 0.05, False),
        (">", 0.06, True),
        (">=", 0.05, True),
        ("==", 0.05, True),
        ("==", 0.06, False),
        ("!=", 0.06, True),
        ("!=", 0.05, False),
    ],
)
def test_each_operator(op: Op, value: float, expected: bool) -> None:
    assert Condition("x", op, 0.05).holds(result(value)) is expected


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_nan_never_holds(op: Op) -> None:
    assert Condition("x", op, 0.0).holds(result(float("nan"))) is False


def test_empty_result_is_none() -> None:
    assert Condition("x", "<", 1).holds(QueryResult("x", "vector", ())) is None


def test_all_series_must_hold_by_default_any_needs_one() -> None:
    mixed = result(0.01, 0.5)
    assert Condition("x", "<", 0.1).holds(mixed) is False
    assert Condition("x", "<", 0.1, match="any").holds(mixed) is True
    assert Condition("x", "<", 0.1, match="any").describe() == "any series of x < 0.1"


async def test_holds_at_once_returns_after_one_poll() -> None:
    prom = ScriptedPrometheus(vector(({}, "0.01")))
    clock = FakeClock()
    outcome = await wait_until(
        source(prom),
        Condition("err", "<", 0.05),
        timeout_s=60,
        interval_s=5,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (outcome.polls, outcome.waited_s, outcome.first_holds) == (1, 0, True)
    assert clock.sleeps == []


async def test_polls_until_the_value_drops() -> None:
    prom = ScriptedPrometheus(vector(({}, "0.3")), vector(({}, "0.2")), vector(({}, "0.01")))
    clock = FakeClock()
    outcome = await wait_until(
        source(prom),
        Condition("err", "<", 0.05),
        timeout_s=60,
        interval_s=5,
        clock=clock,
        sleep=clock.sleep,
    )
    assert outcome.polls == 3
    assert outcome.waited_s == 10
    assert outcome.first_holds is False
    assert outcome.first.samples[0].value == 0.3
    assert outcome.last.samples[0].value == 0.01
    assert prom.queries == ["err", "err", "err"]


async def test_for_s_needs_the_condition_to_hold_without_a_break() -> None:
    ok, bad = vector(({}, "0.01")), vector(({}, "0.5"))
    prom = ScriptedPrometheus(ok, bad, ok, ok, ok, ok)
    clock = FakeClock()
    outcome = await wait_until(
        source(prom),
        Condition("err", "<", 0.05),
        timeout_s=100,
        interval_s=10,
        for_s=30,
        clock=clock,
        sleep=clock.sleep,
    )
    # Held at t=0, broke at t=10, held again from t=20: 30 s later is t=50, the 6th poll.
    assert outcome.polls == 6
    assert outcome.waited_s == 50


async def test_timeout_raises_with_the_last_value() -> None:
    prom = ScriptedPrometheus(vector(({"job": "api"}, "0.3")), vector(({"job": "api"}, "0.2")))
    clock = FakeClock()
    with pytest.raises(ConditionNotMetError) as info:
        await wait_until(
            source(prom),
            Condition("err", "<", 0.05),
            timeout_s=30,
            interval_s=10,
            clock=clock,
            sleep=clock.sleep,
        )
    error = info.value
    assert "last value: 0.2" in str(error)
    assert "not met after 30s (4 polls)" in str(error)
    assert error.context["reason"] == "timeout"
    assert "prometheus instance 'prom'" in str(error)
    assert clock.now == 1030  # never slept past the deadline


async def test_timeout_while_holding_says_for_how_long() -> None:
    prom = ScriptedPrometheus(vector(({}, "0.3")), vector(({}, "0.01")))
    clock = FakeClock()
    with pytest.raises(ConditionNotMetError, match="held for 10s of the required 60s"):
        await wait_until(
            source(prom),
            Condition("err", "<", 0.05),
            timeout_s=20,
            interval_s=10,
            for_s=60,
            clock=clock,
            sleep=clock.sleep,
        )


async def test_no_data_fails_at_once_by_default() -> None:
    prom = ScriptedPrometheus(vector())
    clock = FakeClock()
    with pytest.raises(ConditionNotMetError, match="returned no data") as info:
        await wait_until(
            source(prom),
            Condition("err", "<", 0.05),
            timeout_s=60,
            interval_s=5,
            clock=clock,
            sleep=clock.sleep,
        )
    assert info.value.context["reason"] == "no_data"
    assert len(prom.queries) == 1


async def test_no_data_can_wait_for_the_series() -> None:
    prom = ScriptedPrometheus(vector(), vector(), vector(({}, "0.01")))
    clock = FakeClock()
    outcome = await wait_until(
        source(prom),
        Condition("err", "<", 0.05),
        timeout_s=60,
        interval_s=5,
        on_no_data="wait",
        clock=clock,
        sleep=clock.sleep,
    )
    assert outcome.polls == 3
    assert outcome.first_holds is None


async def test_no_data_until_timeout_reports_no_data() -> None:
    prom = ScriptedPrometheus(vector())
    clock = FakeClock()
    with pytest.raises(ConditionNotMetError, match="last value: no data"):
        await wait_until(
            source(prom),
            Condition("err", "<", 0.05),
            timeout_s=10,
            interval_s=5,
            on_no_data="wait",
            clock=clock,
            sleep=clock.sleep,
        )
