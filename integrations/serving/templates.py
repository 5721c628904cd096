"""Request templates of the generic HTTP serving adapter: sandboxed Jinja2 and JSON field paths.

Templates are operator content, rendered in Jinja2's ``SandboxedEnvironment`` (no attribute
access to Python internals) with ``StrictUndefined`` (a misspelt variable is an error, not an
empty string). Autoescape is off: the output is a URL or a JSON/text body, not HTML.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ConfigError

TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(template: str, what: str, variables: dict[str, Any]) -> str:
    try:
        return TEMPLATES.from_string(template).render(**variables)
    except TemplateError as exc:
        raise ConfigError(
            f"cannot render the {what} template: {exc}",
            hint=f"available variables: {', '.join(sorted(variables))}",
        ) from None


_MISSING = object()


def field_value(document: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``; digits index lists); raises KeyError."""
    current = document
    for part in path.split("."):
        if isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        elif isinstance(current, dict):
            current = current.get(part, _MISSING)
        else:
            current = _MISSING
        if current is _MISSING:
            raise KeyError(part)
    return current
