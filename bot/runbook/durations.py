"""Durations in runbook files and settings: seconds as a number, or ``30s``, ``5m``, ``2h``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"


def parse_duration(value: Any) -> Any:
    """``90``, ``"90"``, ``"90s"``, ``"1.5m"`` → 90.0 seconds; other values go to pydantic as is."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 30s, 5m, 2h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 2h or a number of seconds")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


def _schema(minimum: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", minimum: 0},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
        "description": "seconds, or a number with a unit: ms, s, m, h, d (e.g. 30s, 5m)",
    }


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("a duration must not be negative")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("a duration must be more than 0")
    return value


#: A duration of 0 or more seconds.
Duration = Annotated[
    float, BeforeValidator(parse_duration), AfterValidator(_not_negative), WithJsonSchema(_schema("minimum"))
]
#: A duration of more than 0 seconds.
PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    WithJsonSchema(_schema("exclusiveMinimum")),
]


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
