"""The metrics kind: instant queries against a metrics system, to verify a mitigation.

A :class:`MetricsSource` answers an expression (PromQL for Prometheus) with typed samples:
labels and a float value. Vector and scalar results both become a tuple of samples (a scalar
is one sample without labels); an empty tuple means "no data". Values keep IEEE specials
(NaN, ±Inf) as floats; :func:`sample_to_dict` turns them into JSON-safe strings for records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from bot.errors import RejectedIntegrationError
from integrations.base import Instance

ResultType = Literal["vector", "scalar"]


@dataclass(frozen=True)
class Sample:
    """One series of an instant query result: its labels and its value at evaluation time."""

    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None

    def describe(self) -> str:
        """``up{job="api"} = 1`` style, for plan summaries and errors."""
        labels = format_labels(self.labels)
        value = format_value(self.value)
        return f"{labels} = {value}" if labels else value


@dataclass(frozen=True)
class QueryResult:
    """What an instant query returned."""

    expr: str
    result_type: ResultType
    samples: tuple[Sample, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.samples

    def describe(self, limit: int = 5) -> str:
        """A short human description: the value of one series, or the first ``limit``."""
        if not self.samples:
            return "no data"
        if len(self.samples) == 1:  # its labels are in the details; the value is the news
            return format_value(self.samples[0].value)
        shown = ", ".join(s.describe() for s in self.samples[:limit])
        more = len(self.samples) - limit
        return f"{shown}, … {more} more" if more > 0 else shown


class ConditionNotMetError(RejectedIntegrationError):
    """A metric did not reach the condition in time, or returned no data when it had to.

    Rejected, not retryable: the mitigation it verifies did not work, and running the same
    wait again rarely changes that. ``reason`` is ``timeout`` or ``no_data``.
    """

    code = "condition_not_met"


@runtime_checkable
class MetricsSource(Instance, Protocol):
    """A configured metrics system (one Prometheus...)."""

    async def query(self, expr: str) -> QueryResult:
        """Evaluate ``expr`` now. Range vectors and strings are rejected with a hint."""
        ...


def format_labels(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def json_value(value: float) -> float | str:
    """Finite floats as numbers, NaN/±Inf as strings: JSON columns reject the specials."""
    return value if math.isfinite(value) else format_value(value)


def sample_to_dict(sample: Sample) -> dict[str, Any]:
    return {"labels": dict(sample.labels), "value": json_value(sample.value)}
