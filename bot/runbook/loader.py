"""Read runbook files and check them: the schema, then what needs the whole file and the
action registry (unknown actions, parameters, template variables, step references).

Every problem is a :class:`RunbookValidationError` naming the file, the step and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.errors import NotFoundError, RunbookValidationError
from bot.runbook.inputs import coerce
from bot.runbook.models import NAME_PATTERN, RunbookSpec, StepSpec
from bot.runbook.templating import ROOTS, Reference, Templates, Where, is_template
from integrations.base import ActionRegistry

SUFFIXES = (".yaml", ".yml")
_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|function-.*|[A-Z]\w*)$")


@dataclass(frozen=True)
class Runbook:
    """A valid runbook file."""

    spec: RunbookSpec
    path: Path
    #: SHA-256 of the file: a run records which version of the runbook it executed.
    digest: str

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class FileReport:
    path: Path
    runbook: Runbook | None
    errors: list[RunbookValidationError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def runbook_files(paths: Iterable[Path]) -> list[Path]:
    """Files given, and the runbook files inside folders given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def check_file(path: Path, actions: ActionRegistry | None, templates: Templates | None = None) -> FileReport:
    """Parse and check one file; ``actions=None`` skips the checks that need the registry."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileReport(path, None, [RunbookValidationError(f"cannot read: {exc.strerror}", file=file)])
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return FileReport(path, None, [RunbookValidationError(f"invalid YAML{where}: {problem}", file=file)])
    if not isinstance(raw, dict):
        return FileReport(
            path,
            None,
            [RunbookValidationError("a runbook file holds a mapping (name, title, steps...)", file=file)],
        )
    try:
        spec = RunbookSpec.model_validate(raw)
    except ValidationError as exc:
        return FileReport(path, None, list(_schema_errors(file, raw, exc)))
    errors = list(_semantic_errors(spec, path, actions, templates or Templates()))
    if errors:
        return FileReport(path, None, errors)
    return FileReport(path, Runbook(spec, path, hashlib.sha256(data).hexdigest()))


def load_file(path: Path, actions: ActionRegistry | None) -> Runbook:
    """The runbook in ``path``; its first problem as a RunbookValidationError."""
    report = check_file(path, actions)
    if report.runbook is None:
        first = report.errors[0]
        more = len(report.errors) - 1
        if more:
            first.hint = f"{more} more problem(s): run `incident-bot runbook validate {path}`"
        raise first
    return report.runbook


class Catalog:
    """The runbooks of a folder, read on demand (files are content people edit live)."""

    def __init__(self, folder: Path, actions: ActionRegistry) -> None:
        self.folder = folder
        self.actions = actions
        self.templates = Templates()
        self._cache: dict[Path, tuple[tuple[int, int], FileReport]] = {}

    def reports(self) -> list[FileReport]:
        if not self.folder.is_dir():
            return []
        reports = []
        for path in runbook_files([self.folder]):
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            cached = self._cache.get(path)
            if cached is None or cached[0] != key:
                cached = (key, check_file(path, self.actions, self.templates))
                self._cache[path] = cached
            reports.append(cached[1])
        return _with_duplicate_names(reports)

    def runbooks(self) -> list[Runbook]:
        return [r.runbook for r in self.reports() if r.runbook is not None]

    def get(self, name: str) -> Runbook:
        for report in self.reports():
            if report.path.stem == name:
                if report.runbook is None:
                    raise report.errors[0]
                return report.runbook
        known = ", ".join(r.name for r in self.runbooks()) or "none"
        raise NotFoundError(
            f"runbook {name!r} does not exist in {self.folder}", hint=f"runbooks: {known}", runbook=name
        )


def _with_duplicate_names(reports: list[FileReport]) -> list[FileReport]:
    seen: dict[str, Path] = {}
    out = []
    for report in reports:
        if report.runbook is not None:
            first = seen.setdefault(report.runbook.name, report.path)
            if first != report.path:
                error = RunbookValidationError(
                    f"runbook name {report.runbook.name!r} is also used by {first}", file=str(report.path)
                )
                report = FileReport(report.path, None, [error])
        out.append(report)
    return out


def _schema_errors(file: str, raw: dict[str, Any], exc: ValidationError) -> Iterator[RunbookValidationError]:
    located = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and _TYPE_TAG.match(p))]
        step: str | None = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            step = _step_label(raw, loc[1])
            loc = loc[2:]
        located.append((step, loc, ".".join(str(p) for p in loc), err))
    seen: set[tuple[str | None, str]] = set()
    for step, loc, field_name, err in located:
        # A union (``retries: 3`` or a mapping) fails once per member: keep the deepest error.
        deeper = any(s == step and f.startswith(field_name + ".") for s, _, f, _ in located)
        if (step, field_name) in seen or (field_name and deeper):
            continue
        seen.add((step, field_name))
        message = err["msg"].removeprefix("Value error, ")
        hint = None
        if err["type"] == "extra_forbidden":
            message = "unknown field"
            hint = _known_fields_hint(step is not None, loc)
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "name":
            hint = f"use lowercase letters, digits and dashes ({NAME_PATTERN})"
        elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "id":
            hint = "use lowercase letters, digits and _ (steps.<id> must work in templates)"
        yield RunbookValidationError(message, file=file, step=step, field=field_name or None, hint=hint)


def _step_label(raw: dict[str, Any], index: int) -> str:
    steps = raw.get("steps")
    if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict):
        step_id = steps[index].get("id")
        if isinstance(step_id, str) and step_id:
            return step_id
    return f"#{index + 1}"


def _known_fields_hint(in_step: bool, loc: list[int | str]) -> str | None:
    model: type[BaseModel] = StepSpec if in_step else RunbookSpec
    if len(loc) != 1:
        return None
    names = [f.alias or n for n, f in model.model_fields.items()]
    return f"known fields: {', '.join(names)}"


def _semantic_errors(
    spec: RunbookSpec, path: Path, actions: ActionRegistry | None, templates: Templates
) -> Iterator[RunbookValidationError]:
    file = str(path)
    if path.stem != spec.name:
        yield RunbookValidationError(
            f"name {spec.name!r} differs from the file name {path.name!r}",
            file=file,
            field="name",
            hint=f"rename the file to {spec.name}.yaml or the runbook to {path.stem}",
        )
    yield from _input_errors(spec, file, templates)
    earlier: list[str] = []
    for step in spec.steps:
        if step.id in earlier:
            yield RunbookValidationError("step id is used twice", file=file, step=step.id, field="id")
        yield from _action_errors(step.action, step.with_, actions, file, step.id, "with")
        yield from _template_errors(spec, step.with_, Where(file, step.id, "with"), earlier, templates)
        if step.undo is not None:
            yield from _action_errors(step.undo.action, step.undo.with_, actions, file, step.id, "undo.with")
            yield from _template_errors(
                spec,
                step.undo.with_,
                Where(file, step.id, "undo.with"),
                [*earlier, step.id],
                templates,
                undo=True,
            )
        earlier.append(step.id)


def _input_errors(spec: RunbookSpec, file: str, templates: Templates) -> Iterator[RunbookValidationError]:
    for name, input_spec in spec.inputs.items():
        where = Where(file, field=f"inputs.{name}.default")
        default = input_spec.default
        if isinstance(default, str) and is_template(default):
            for at, found in templates.check(default, where):
                if isinstance(found, str):
                    yield _error(at, found)
                elif found.root != "incident":
                    yield _error(at, f"unknown variable {found.root!r}: a default may use incident only")
        elif default is not None:
            try:
                coerce(name, input_spec, default, runbook=spec.name)
            except Exception as exc:
                yield _error(where, str(exc).split(": ", 1)[-1])
        for i, choice in enumerate(input_spec.choices or []):
            try:
                coerce(name, input_spec.model_copy(update={"choices": None}), choice, runbook=spec.name)
            except Exception as exc:
                yield _error(Where(file, field=f"inputs.{name}.choices.{i}"), str(exc).split(": ", 1)[-1])


def _action_errors(
    action_name: str,
    params: dict[str, Any],
    actions: ActionRegistry | None,
    file: str,
    step: str,
    field_name: str,
) -> Iterator[RunbookValidationError]:
    action_field = "undo.action" if field_name.startswith("undo") else "action"
    if actions is None:
        return
    if action_name not in actions:
        yield RunbookValidationError(
            f"unknown action {action_name!r}",
            file=file,
            step=step,
            field=action_field,
            hint=f"registered actions: {', '.join(actions.names()) or 'none'}",
        )
        return
    model = actions.get(action_name).params_model
    accepted: dict[str, str] = {}
    for name, info in model.model_fields.items():
        accepted[name] = name
        if info.alias:
            accepted[info.alias] = name
    for key in params:
        if key not in accepted:
            yield RunbookValidationError(
                f"unknown parameter of {action_name}",
                file=file,
                step=step,
                field=f"{field_name}.{key}",
                hint=f"parameters: {', '.join(sorted(model.model_fields)) or 'none'}",
            )
    given = {accepted[k] for k in params if k in accepted}
    for name, info in model.model_fields.items():
        if info.is_required() and name not in given:
            yield RunbookValidationError(
                f"{action_name} needs parameter {info.alias or name!r}",
                file=file,
                step=step,
                field=f"{field_name}.{info.alias or name}",
            )


def _template_errors(
    spec: RunbookSpec,
    value: Any,
    where: Where,
    earlier_steps: list[str],
    templates: Templates,
    *,
    undo: bool = False,
) -> Iterator[RunbookValidationError]:
    roots = set(ROOTS) if undo else set(ROOTS) - {"step"}
    for at, found in templates.check(value, where):
        if isinstance(found, str):
            yield _error(at, found)
            continue
        yield from _reference_errors(spec, at, found, roots, earlier_steps)


def _reference_errors(
    spec: RunbookSpec, at: Where, ref: Reference, roots: set[str], earlier_steps: list[str]
) -> Iterator[RunbookValidationError]:
    if ref.root not in roots:
        yield _error(at, f"unknown variable {ref.root!r}", hint=f"variables: {', '.join(sorted(roots))}")
    elif ref.root == "inputs" and ref.name is not None and ref.name not in spec.inputs:
        yield _error(
            at, f"input {ref.name!r} is not declared", hint=f"inputs: {', '.join(spec.inputs) or 'none'}"
        )
    elif ref.root == "steps" and ref.name is not None and ref.name not in earlier_steps:
        later = ref.name in {s.id for s in spec.steps}
        yield _error(
            at,
            f"step {ref.name!r} {'does not come before this one' if later else 'does not exist'}",
            hint=f"earlier steps: {', '.join(earlier_steps) or 'none'}",
        )


def _error(at: Where, message: str, hint: str | None = None) -> RunbookValidationError:
    return RunbookValidationError(message, file=at.file, step=at.step, field=at.field, hint=hint)
