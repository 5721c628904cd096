"""A small JSONPath subset for generic webhook mappings: one path names one value.

Grammar::

    path   := anchor? step*            e.g.  $.checkResults[0].datasets[0].name
    anchor := "$" (the payload root) | "@" (the current alert; the default)
    step   := "." name | "[" integer "]" | "[" quoted-name "]"

``name`` is letters, digits, ``_`` and ``-``; keys with other characters are written
``["key with.dots"]``. Negative indices count from the end. Without an anchor a path is read
from the current alert (the element of the ``alerts`` list, or the whole payload when the
mapping has no ``alerts`` path), so ``labels.model`` and ``@.labels.model`` are the same.
No wildcards, filters or functions: one path, one value, nothing evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_INDEX = re.compile(r"\[(-?\d+)\]")
_QUOTED = re.compile(r"""\[("(?:[^"\\]|\\.)*"|'[^']*')\]""")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Returned when a path leads nowhere (absent key, index out of range, wrong type on the way).
MISSING: Any = _Missing()


@dataclass(frozen=True)
class JsonPath:
    text: str
    from_root: bool
    steps: tuple[str | int, ...]

    def resolve(self, root: Any, current: Any) -> Any:
        value = root if self.from_root else current
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    return MISSING
                value = value[step]
            else:
                if not isinstance(value, dict) or step not in value:
                    return MISSING
                value = value[step]
        return value


@lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """Parse a path; ``ValueError`` says where the syntax is wrong."""
    rest = text.strip()
    if not rest:
        raise ValueError("empty path")
    from_root = rest.startswith("$")
    if rest[0] in "$@":
        rest = rest[1:]
    elif not rest.startswith("["):
        rest = "." + rest
    steps: list[str | int] = []
    pos = len(text.strip()) - len(rest)
    while rest:
        if rest.startswith(".") and (m := _NAME.match(rest, 1)):
            steps.append(m.group())
        elif m := _INDEX.match(rest):
            steps.append(int(m.group(1)))
        elif m := _QUOTED.match(rest):
            quoted = m.group(1)
            steps.append(json.loads(quoted) if quoted.startswith('"') else quoted[1:-1])
        else:
            raise ValueError(
                f'cannot read {text!r} at character {pos + 1}: expected .name, [index] or ["key"]'
            )
        pos += m.end()
        rest = rest[m.end() :]
    return JsonPath(text=text, from_root=from_root, steps=tuple(steps))
