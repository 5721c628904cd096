"""incident-bot runbook ...: list, show, validate, dry-run, run, approve, deny, cancel, undo, runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import console, err_console, fail, load
from bot.config import Settings
from bot.errors import IncidentBotError
from bot.runbook.builtin import register_builtin_actions
from bot.runbook.loader import Catalog, check_file, runbook_files
from bot.runbook.models import RunbookSpec, json_schema
from bot.runtime import Runtime

app = typer.Typer(help="Runbooks: list, validate, dry-run, run, approve, undo.", no_args_is_help=True)


def _default_runtime(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings)
    register_builtin_actions(runtime.actions)
    return runtime


#: Builds the runtime (and its action registry) of a command; tests swap it.
build_runtime: Callable[[Settings], Runtime] = _default_runtime


def _runtime() -> Runtime:
    return build_runtime(load())


@app.command("list")
def list_() -> None:
    """List the runbooks of the runbooks folder (invalid files too)."""
    runtime = _runtime()
    catalog = Catalog(runtime.settings.runbooks_path, runtime.actions)
    table = Table("name", "title", "owner", "steps", "approval", title=str(catalog.folder))
    invalid = 0
    for report in catalog.reports():
        if report.runbook is None:
            invalid += 1
            table.add_row(
                report.path.stem, f"[red]invalid: {escape(str(report.errors[0]))}[/red]", "", "", ""
            )
            continue
        spec = report.runbook.spec
        table.add_row(
            spec.name, escape(spec.title), escape(spec.owner), str(len(spec.steps)), _approval(spec)
        )
    console.print(table)
    if invalid:
        err_console.print(f"{invalid} invalid file(s): run `incident-bot runbook validate` for details")


def _approval(spec: RunbookSpec) -> str:
    policy = spec.approval
    text = policy.required.value
    if policy.by_severity:
        text += " (" + ", ".join(f"{s.value}: {lvl.value}" for s, lvl in policy.by_severity.items()) + ")"
    return text


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Runbook name.")]) -> None:
    """Show a runbook: inputs, approval policy, steps."""
    runtime = _runtime()
    try:
        runbook = Catalog(runtime.settings.runbooks_path, runtime.actions).get(name)
    except IncidentBotError as exc:
        raise fail(exc) from None
    spec = runbook.spec
    console.print(f"[bold]{spec.name}[/bold]: {escape(spec.title)}  (owner {escape(spec.owner)})")
    console.print(f"  file: {runbook.path}")
    if spec.description:
        console.print(escape(spec.description.strip()))
    for name_, item in spec.inputs.items():
        extra = []
        if item.from_:
            extra.append("from " + ", ".join(item.from_))
        if item.default is not None:
            extra.append(f"default {item.default!r}")
        if item.secret:
            extra.append("secret")
        if not item.required:
            extra.append("optional")
        detail = f" ({'; '.join(extra)})" if extra else ""
        console.print(f"  input {name_}: {item.type.value}{escape(detail)}")
    console.print(f"  approval: {_approval(spec)}" + (" (four eyes)" if spec.approval.four_eyes else ""))
    if spec.approval.approvers:
        console.print(f"  approvers: {', '.join(spec.approval.approvers)}")
    if spec.run_by:
        console.print(f"  run by: {', '.join(spec.run_by)}")
    table = Table("#", "step", "action", "with", "on failure")
    for i, step in enumerate(spec.steps, 1):
        params = json.dumps(step.with_, ensure_ascii=False)
        table.add_row(str(i), step.id, step.action, escape(params), step.on_failure.value)
    console.print(table)


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the runbooks folder).")
    ] = None,
) -> None:
    """Check runbook files: schema, known actions and parameters, template variables."""
    runtime = _runtime()
    files = runbook_files(paths or [runtime.settings.runbooks_path])
    if not files:
        err_console.print("no runbook files found")
        raise typer.Exit(code=1)
    failed = 0
    for path in files:
        report = check_file(path, runtime.actions)
        if report.runbook is not None:
            spec = report.runbook.spec
            console.print(f"[green]ok[/green]    {path} ({spec.name}: {len(spec.steps)} step(s))")
            continue
        failed += 1
        console.print(f"[red]error[/red] {path}")
        for error in report.errors:
            console.print(f"  {escape(error.message)}", soft_wrap=True)
            if error.hint:
                console.print(f"    hint: {escape(error.hint)}", soft_wrap=True)
    console.print(f"{len(files)} file(s) checked, {failed} with errors")
    if failed:
        raise typer.Exit(code=1)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of runbook files (docs/runbook.schema.json)."""
    typer.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
