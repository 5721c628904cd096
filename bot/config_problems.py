"""Turn pydantic's validation errors on settings into :class:`Problem` lines a person can act on.

Each line names where the value was set (the config file, or the environment variable that
won), the field as it is written in YAML (no union tags or type names), what is wrong in plain
words (no "Value error," prefix, no Python type names) and the fix.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.errors import Problem

#: Where each top-level section is documented (the generic fix of an invalid value).
SECTION_DOCS = {
    "alerts": "docs/alerting.md and docs/alert-sources.md",
    "runbooks": "docs/runbooks.md",
    "integrations": "docs/integrations/",
    "slack": "docs/slack.md",
    "permissions": "the permissions section of examples/config.yaml",
}

#: Fixes by pydantic error type, where the type says it all.
_FIXES = {
    "missing": "add it",
    "inline_secret": "write {env: NAME} (an environment variable) or {file: PATH} (a file that holds it)",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
}


def _env_names() -> dict[str, str]:
    """Environment variable names by their upper-case form (pydantic-settings ignores case)."""
    return {name.upper(): name for name in os.environ}


def _origin(loc: Sequence[str | int], data: dict[str, Any], path: Path | None) -> str:
    env = _env_names()
    names = [str(part) for part in loc if isinstance(part, str)]
    for end in range(len(names), 0, -1):
        name = "INCIDENT_BOT_" + "__".join(names[:end]).upper()
        if name in env:
            return f"environment variable {env[name]}"
    if len(names) >= 2 and names[0] == "slack" and f"SLACK_{names[1].upper()}" in env:
        return f"environment variable {env[f'SLACK_{names[1].upper()}']}"
    if path is not None and names and names[0] in data:
        return str(path)
    return "settings"


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none", "tuple", "set"}


def _is_type_name(part: str | int) -> bool:
    """Names pydantic puts in a location for union members (``SecretRef``, ``str``, ...)."""
    return isinstance(part, str) and (part in _TYPE_NAMES or "[" in part or part[:1].isupper())


def _written_path(loc: Sequence[str | int], data: Any) -> list[str | int]:
    """The path as written in the input: drop union tags and type names pydantic adds."""
    written: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and -len(current) <= part < len(current)
        if in_dict or in_list:
            current = current[part]
        elif not last and (_is_type_name(part) or (isinstance(current, dict) and part in current.values())):
            continue  # a union member's name, or a discriminator's value (``basic``)
        else:
            current = None
        written.append(part)
    return written


def _dotted(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(model: type[BaseModel], parts: Sequence[str | int]) -> type[BaseModel] | None:
    """The settings model that holds the last part of ``parts`` (for "did you mean")."""
    current: Any = model
    for part in parts:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        if part not in current.model_fields:
            return None
        current = _unwrap(current.model_fields[str(part)].annotation)
        if typing.get_origin(current) is dict:
            return None  # named entries (sources, instances): no fixed keys to suggest
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``; other unions are left alone."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _message(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown setting"
    if err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        message = err["msg"].removeprefix("Value error, ")
    message = message.replace("a valid dictionary or instance of ", "a mapping (")
    if "a mapping (" in message:
        message = message.split("a mapping (")[0] + "a mapping (key: value lines)"
    message = message.replace("Input should be", "should be")
    return message[:1].lower() + message[1:]


def _fix(err: ErrorDetails, written: list[str | int], model: type[BaseModel]) -> str:
    if err["type"] == "extra_forbidden":
        holder = _model_at(model, written[:-1])
        if holder is not None:
            close = difflib.get_close_matches(str(written[-1]), list(holder.model_fields), n=1)
            if close:
                return f"did you mean {_dotted([*written[:-1], close[0]])}?"
        return "remove it or check its spelling"
    if err["type"] in _FIXES:
        return _FIXES[err["type"]]
    top = str(written[0]) if written else ""
    return f"see {SECTION_DOCS.get(top, 'the Configuration table in README.md')}"


def describe_validation_error(
    exc: ValidationError, data: dict[str, Any], path: Path | None, model: type[BaseModel]
) -> list[Problem]:
    """One problem per invalid field (a union's several complaints about a field count once)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = [part for part in err["loc"] if isinstance(part, str | int)]
        written = _written_path(loc, data)
        field = _dotted(written) or "(top level)"
        if field in seen:
            continue
        seen.add(field)
        problems.append(
            Problem(
                where=_origin(written, data, path),
                field=field,
                what=_message(err),
                fix=_fix(err, written, model),
            )
        )
    return problems
