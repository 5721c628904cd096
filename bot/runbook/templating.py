"""Render ``with:`` parameters: Jinja2 in a sandbox, where a missing variable is an error.

A string that is exactly one ``{{ expression }}`` keeps the expression's type (a number stays a
number, a list a list); any other string renders to a string. Templates see:

- ``inputs``: the run's inputs;
- ``incident``: ref, title, severity, status, labels, models, services;
- ``run``: ref, runbook, requested_by;
- ``steps.<id>``: target, before, after, summary, status of earlier steps (in a dry-run the
  planned states);
- ``step`` (only in an explicit ``undo:``): the step being undone.

Errors name the file, the step and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.errors import TemplateRenderError

ROOTS = ("inputs", "incident", "run", "steps", "step")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)
_HINT = "templates see inputs.<name>, incident.<field>, run.<field>, steps.<id>.<before|after|summary|target>"


@dataclass(frozen=True)
class Where:
    """The place of a template, for error messages."""

    file: str
    step: str | None = None
    field: str | None = None

    def at(self, field: str) -> Where:
        return Where(self.file, self.step, f"{self.field}.{field}" if self.field else field)

    def describe(self) -> str:
        parts = [f"runbook {self.file}"]
        if self.step:
            parts.append(f"step {self.step}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


@dataclass(frozen=True)
class Reference:
    """``inputs.model`` → root ``inputs``, name ``model`` (None when computed at run time)."""

    root: str
    name: str | None


class Templates:
    def __init__(self) -> None:
        self.env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

    def render(self, value: Any, context: Mapping[str, Any], where: Where) -> Any:
        """``value`` with every template string in it rendered against ``context``."""
        if isinstance(value, dict):
            return {k: self.render(v, context, where.at(str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, context, where.at(str(i))) for i, v in enumerate(value)]
        if not isinstance(value, str) or not is_template(value):
            return value
        try:
            single = _SINGLE_EXPRESSION.match(value)
            if single is not None:
                result = self.env.compile_expression(single.group("expr"), undefined_to_none=False)(**context)
                if isinstance(result, Undefined):
                    result._fail_with_undefined_error()
                return result
            return self.env.from_string(value).render(**context)
        except TemplateError as exc:
            raise _render_error(where, exc) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateRenderError(
                f"{where.describe()}: {type(exc).__name__}: {exc}", hint=_HINT, **_context(where)
            ) from None

    def check(self, value: Any, where: Where) -> Iterator[tuple[Where, str | Reference]]:
        """Syntax errors (as text) and variable references of every template in ``value``."""
        if isinstance(value, dict):
            for k, v in value.items():
                yield from self.check(v, where.at(str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from self.check(v, where.at(str(i)))
        elif isinstance(value, str) and is_template(value):
            single = _SINGLE_EXPRESSION.match(value)
            source = "{{ " + single.group("expr") + " }}" if single else value
            try:
                tree = self.env.parse(source)
            except TemplateSyntaxError as exc:
                yield where, f"template syntax error: {exc.message}"
                return
            for ref in _references(tree):
                yield where, ref


def _references(tree: nodes.Template) -> Iterator[Reference]:
    """Free variables and the first attribute taken from each (``inputs.model``)."""
    declared = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    attributed: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if isinstance(base, nodes.Name) and base.ctx == "load" and base.name not in declared:
            attributed.add(id(base))
            if isinstance(node, nodes.Getattr):
                yield Reference(base.name, node.attr)
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                key = node.arg.value
                yield Reference(base.name, key if isinstance(key, str) else None)
            else:
                yield Reference(base.name, None)
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in declared and id(name) not in attributed:
            yield Reference(name.name, None)


def _context(where: Where) -> dict[str, Any]:
    return {"file": where.file, "step": where.step, "field": where.field}


def _render_error(where: Where, exc: TemplateError) -> TemplateRenderError:
    message = exc.message or type(exc).__name__
    if isinstance(exc, TemplateSyntaxError):
        message = f"template syntax error: {message}"
    return TemplateRenderError(f"{where.describe()}: {message}", hint=_HINT, **_context(where))
