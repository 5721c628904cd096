"""Label matchers in Alertmanager's syntax, for routing rules and silences.

    name="value"     equal            name!="value"    not equal
    name=~"regex"    regex matches    name!~"regex"    regex does not match

Values may be quoted (``"..."`` with ``\\"`` and ``\\\\`` escapes) or bare. Regexes match the
whole value (anchored, as in Alertmanager). A label the alert does not have has the value "",
so ``team!="data"`` matches an alert without ``team`` and ``team=~".+"`` requires one.

Besides its labels an alert offers ``__source__`` (the source name), ``__kind__`` (the parser
kind) and ``__severity__`` (critical, high, warning or info). Prometheus reserves names that
start with ``__``, so these never collide with a real label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BeforeValidator, InstanceOf, PlainSerializer, WithJsonSchema

Op = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``model="fraud"`` → Matcher; ValueError saying what is wrong otherwise."""
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(
                f'matcher {text!r} must look like name="value", name!="value", name=~"regex" or name!~"regex"'
            )
        name, op, raw = found.groups()
        value = _unquote(raw, text)
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise ValueError(f"matcher {text!r}: invalid regex: {exc}") from None
        return cls(name=name, op=op, value=value, pattern=pattern)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise ValueError(f"matcher {text!r}: unbalanced quotes")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise ValueError(f"matcher {text!r}: unbalanced quotes")
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
            continue
        if char == '"':
            raise ValueError(f"matcher {text!r}: unescaped quote inside the value")
        out.append(char)
        i += 1
    return "".join(out)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _parse_list(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):  # {model: fraud} shorthand for equality matchers
        value = [f'{k}="{v!s}"' for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [m if isinstance(m, Matcher) else Matcher.parse(str(m)) for m in value]
    return value


#: A list of matchers in config and API bodies: strings, or a {name: value} mapping.
MatcherList = Annotated[
    list[InstanceOf[Matcher]],
    BeforeValidator(_parse_list),
    PlainSerializer(lambda ms: [str(m) for m in ms], return_type=list[str]),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]


def match_labels(labels: Mapping[str, str], *, source: str, kind: str, severity: str) -> dict[str, str]:
    """The labels matchers see: the alert's own plus the ``__``-prefixed facts."""
    return {**labels, "__source__": source, "__kind__": kind, "__severity__": severity}
