"""Resolve a run's inputs: the requester's values, else the incident's, else defaults; typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.errors import InputError
from bot.redact import REDACTED
from bot.runbook.models import InputSpec, InputType, RunbookSpec, Scalar
from bot.runbook.templating import Templates, Where, is_template

_ADAPTERS: dict[InputType, TypeAdapter[Any]] = {
    InputType.STRING: TypeAdapter(str),
    InputType.INTEGER: TypeAdapter(int),
    InputType.NUMBER: TypeAdapter(float),
    InputType.BOOLEAN: TypeAdapter(bool),
}


def coerce(name: str, spec: InputSpec, value: Any, *, runbook: str) -> Scalar:
    """``value`` as the input's type (``"3"`` → 3 for an integer); InputError names the input."""
    if spec.type is InputType.STRING and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    try:
        typed: Scalar = _ADAPTERS[spec.type].validate_python(value)
    except ValidationError:
        shown = REDACTED if spec.secret else repr(value)
        raise InputError(
            f"runbook {runbook}: input {name} must be a {spec.type.value}, got {shown}",
            field=f"inputs.{name}",
        ) from None
    if spec.choices is not None and typed not in spec.choices:
        raise InputError(
            f"runbook {runbook}: input {name} must be one of {', '.join(map(str, spec.choices))}",
            field=f"inputs.{name}",
        )
    return typed


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """``incident.labels.model`` in ``{"incident": {...}}``; None when absent or empty."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return None if value in ("", None, [], {}) else value


def resolve(
    spec: RunbookSpec,
    given: Mapping[str, Any],
    incident: Mapping[str, Any],
    templates: Templates,
    *,
    file: str,
) -> dict[str, Scalar | None]:
    """The typed value of every input (None for an optional one without a value); InputError
    for unknown inputs and required ones without a value."""
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        raise InputError(
            f"runbook {spec.name} has no input {', '.join(unknown)}",
            hint=f"its inputs: {', '.join(spec.inputs) or 'none'}",
            field="inputs",
        )
    context = {"incident": incident}
    values: dict[str, Scalar | None] = {}
    for name, input_spec in spec.inputs.items():
        raw: Any = given.get(name)
        if raw is None:
            raw = next((v for v in (lookup(context, p) for p in input_spec.from_) if v is not None), None)
        if raw is None and input_spec.default is not None:
            default = input_spec.default
            if isinstance(default, str) and is_template(default):
                default = templates.render(default, context, Where(file, field=f"inputs.{name}.default"))
            raw = default
        if raw is None or raw == "":
            if input_spec.required:
                sources = ", ".join(input_spec.from_) or "no incident field"
                raise InputError(
                    f"runbook {spec.name}: input {name} is required and has no value",
                    hint=f"give it (--input {name}=...); looked in {sources}",
                    field=f"inputs.{name}",
                )
            # Templates see every declared input; an optional one without a value is None.
            values[name] = None
            continue
        values[name] = coerce(name, input_spec, raw, runbook=spec.name)
    return values


def secret_values(spec: RunbookSpec, values: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(values[n]) for n in spec.secret_inputs() if n in values and values[n] is not None)


def shown(spec: RunbookSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as people may see them: secret ones masked."""
    secrets = spec.secret_inputs()
    return {k: REDACTED if k in secrets else v for k, v in values.items()}
