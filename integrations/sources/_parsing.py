"""Helpers shared by the sender parsers: errors with field paths, times, severities, links.

Every parser turns any JSON value into either a ``ParsedBatch`` or an ``InputError`` that names
the offending field by its path in the body (``alerts[1].labels: field required``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from bot.errors import InputError
from integrations.sources.model import Link, Severity

M = TypeVar("M", bound=BaseModel)

_MAX_SHOWN = 60
_DIGITS = re.compile(r"^\d+(\.\d+)?$")
#: Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11

_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(
        (
            "critical",
            "crit",
            "fatal",
            "emergency",
            "emerg",
            "alert",
            "page",
            "disaster",
            "p1",
            "sev1",
            "sev-1",
            "s1",
            "p0",
            "sev0",
        ),
        "critical",
    ),
    **dict.fromkeys(("high", "error", "err", "major", "p2", "sev2", "sev-2", "s2"), "high"),
    **dict.fromkeys(
        ("warning", "warn", "medium", "moderate", "minor", "average", "p3", "sev3", "sev-3", "s3"), "warning"
    ),
    **dict.fromkeys(
        (
            "info",
            "informational",
            "information",
            "notice",
            "low",
            "none",
            "ok",
            "debug",
            "success",
            "p4",
            "p5",
            "sev4",
            "sev5",
            "sev-4",
            "sev-5",
            "s4",
            "s5",
        ),
        "info",
    ),
}


def shown(value: Any) -> str:
    """A short repr of a received value for error messages."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def input_error(path: str, message: str, *, hint: str | None = None) -> InputError:
    return InputError(f"{path or 'body'}: {message}", hint=hint, field=path or "body")


def join_path(base: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{base}[{step}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", step):
        return f"{base}.{step}" if base else step
    return f"{base}[{json.dumps(step)}]"


def format_loc(loc: Iterable[str | int], base: str = "") -> str:
    path = base
    for step in loc:
        path = join_path(path, step)
    return path


# Pydantic speaks Python ("a valid dictionary or instance of AlertmanagerBody"); senders
# speak JSON.
_JSON_WORDS = re.compile(r"a valid (dictionary(?: or instance of \w+)?|list)")
_JSON_TERMS: dict[str, str] = {"list": "a JSON array"}


def validate_model(model: type[M], data: Any, *, base: str = "", hint: str | None = None) -> M:
    """Validate ``data`` with a pydantic model; errors become InputError with field paths."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False)[:3]:
            loc = [step for step in err["loc"] if isinstance(step, str | int)]
            msg = _JSON_WORDS.sub(lambda m: _JSON_TERMS.get(m.group(1), "a JSON object"), str(err["msg"]))
            msg = msg.removeprefix("Value error, ")
            msg = msg[:1].lower() + msg[1:]
            problems.append(f"{format_loc(loc, base) or 'body'}: {msg}")
        more = exc.error_count() - len(problems)
        message = "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
        first = exc.errors(include_url=False)[0]["loc"]
        field = format_loc([s for s in first if isinstance(s, str | int)], base) or "body"
        raise InputError(message, hint=hint, field=field) from None


def parse_time(value: Any, path: str) -> datetime | None:
    """RFC 3339 text or epoch seconds/milliseconds to tz-aware UTC.

    ``None``, ``""`` and Go's zero time (``0001-01-01T00:00:00Z``) mean "not said". A time
    without offset is read as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise input_error(path, f"expected a timestamp, got {shown(value)}")
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value), path)
        except OverflowError:
            raise input_error(path, "epoch time out of range") from None
    if not isinstance(value, str):
        raise input_error(path, f"expected a timestamp, got {shown(value)}")
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise input_error(
            path,
            f"not an RFC 3339 timestamp: {shown(value)}",
            hint="send e.g. 2026-11-20T03:12:05Z",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= 1:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise input_error(path, f"timestamp out of range: {shown(value)}") from None


def _from_epoch(number: float, path: str) -> datetime:
    if not math.isfinite(number) or number < 0:
        raise input_error(path, f"not a valid epoch time: {shown(number)}")
    seconds = number / 1000 if number > _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise input_error(path, f"epoch time out of range: {shown(number)}") from None


def normalize_severity(raw: str | None, default: Severity = "warning") -> Severity:
    """Map a sender's severity word to the one scale; unknown or missing words get ``default``."""
    if raw is None:
        return default
    return _SEVERITY_WORDS.get(raw.strip().lower(), default)


def text_of(value: Any, path: str) -> str | None:
    """A JSON value as label/annotation text: scalars as text, objects/lists as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        if isinstance(value, int | float):
            return json.dumps(value)
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        raise input_error(path, "value cannot be represented as text") from None


def string_map(values: Mapping[str, Any], path: str) -> dict[str, str]:
    """Every non-null member of a JSON object as text."""
    out: dict[str, str] = {}
    for key, value in values.items():
        text = text_of(value, join_path(path, key))
        if text is not None:
            out[key] = text
    return out


def http_link(href: Any, text: str) -> Link | None:
    """A Link when ``href`` is an http(s) URL; anything else (javascript:, data:...) is dropped."""
    if not isinstance(href, str):
        return None
    href = href.strip()
    if not href.lower().startswith(("http://", "https://")):
        return None
    return Link(href=href, text=text)


_ANNOTATION_LINK_TEXT = {
    "runbook_url": "Runbook",
    "runbook": "Runbook",
    "dashboard_url": "Dashboard",
    "dashboard": "Dashboard",
}


def links_from_annotations(annotations: Mapping[str, str]) -> list[Link]:
    """Runbook, dashboard and other ``*_url`` annotations as links."""
    links = []
    for key in sorted(annotations):
        lowered = key.lower()
        if lowered in _ANNOTATION_LINK_TEXT or lowered.endswith(("_url", "url")):
            text = _ANNOTATION_LINK_TEXT.get(lowered, key)
            link = http_link(annotations[key], text)
            if link is not None:
                links.append(link)
    return links


def unique_links(links: Sequence[Link | None]) -> list[Link]:
    seen: set[str] = set()
    out = []
    for link in links:
        if link is not None and link.href not in seen:
            seen.add(link.href)
            out.append(link)
    return out


def json_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise input_error(path, f"expected a JSON object, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def decode_json(body: bytes) -> Any:
    """Decode a request body; anything that is not JSON is an InputError.

    pydantic-core's reader (the same values as the standard library's: big integers, NaN)
    takes half the time on the hot path; what it refuses is read again by the standard
    library, which keeps its acceptance of lone surrogate escapes and its error messages."""
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        pass
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise InputError("body is not UTF-8 encoded JSON", field="body") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="body",
        ) from None
    except (ValueError, RecursionError):
        raise InputError(
            "body is not valid JSON: a number is too long or nesting too deep", field="body"
        ) from None
