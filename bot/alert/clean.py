"""JSON values fit for every backend's text and JSON columns.

A webhook body can carry, as valid JSON, what a database refuses: NUL characters (PostgreSQL
text and JSONB), lone surrogates (not encodable as UTF-8), NaN and Infinity (not JSON for
PostgreSQL JSONB), and nesting deep enough to exhaust the stack of a serializer.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
MAX_DEPTH = 32
TOO_DEEP = "(nested deeper than 32 levels: see the raw body in the inbox)"


def clean_text(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value with every string (keys too) storable, non-finite numbers as
    text, and anything nested deeper than ``MAX_DEPTH`` replaced by a note."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {clean_text(str(k)): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    return value
