"""Text fit for every backend: no NUL characters (PostgreSQL text and JSONB refuse them) and no
lone surrogates (not encodable as UTF-8), both of which a JSON body can carry as escapes."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean(value: Any) -> Any:
    """A copy of a JSON value with every string (keys too) made storable."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
