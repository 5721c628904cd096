"""incident-bot runbook ...: list, show, validate, dry-run, run, approve, deny, cancel, undo, runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.access import actor
from bot.cli.common import console, err_console, fail, load, require_database, run
from bot.config import Settings
from bot.errors import ConfigError, IncidentBotError, InputError
from bot.runbook import flows
from bot.runbook.builtin import register_builtin_actions
from bot.runbook.explain import explain
from bot.runbook.loader import check_file, runbook_files
from bot.runbook.models import RunbookSpec, json_schema
from bot.runbook.schemas import PlannedStepOut, PlanOut, RunOut
from bot.runbook.states import RunStatus
from bot.runtime import Runtime

app = typer.Typer(help="Runbooks: list, validate, dry-run, run, approve, undo.", no_args_is_help=True)


def _default_runtime(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings)
    register_builtin_actions(runtime.actions)
    return runtime


#: Builds the runtime (and its action registry) of a command; tests swap it.
build_runtime: Callable[[Settings], Runtime] = _default_runtime


def _runtime(*, needs_database: bool = True) -> Runtime:
    settings = load()
    if needs_database:
        require_database(settings.database_url)
    try:
        return build_runtime(settings)
    except ConfigError as exc:
        raise fail(exc) from None


async def _close(runtime: Runtime) -> None:
    await runtime.integrations.aclose()
    await runtime.db.dispose()


def _offline() -> Runtime:
    """For commands that only read runbook files: settings and action registry, clients closed."""
    runtime = _runtime(needs_database=False)
    run(_close, runtime)
    return runtime


@app.command("list")
def list_() -> None:
    """List the runbooks of the runbooks folder (invalid files too)."""
    runtime = _offline()
    catalog = runtime.runbook_catalog
    if not catalog.folder.is_dir():
        raise ConfigError(
            f"the runbooks folder {catalog.folder.absolute()} does not exist",
            hint="create it, or point runbooks_dir (--config, INCIDENT_BOT_RUNBOOKS_DIR) at your runbooks",
        )
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
    runtime = _offline()
    try:
        runbook = runtime.runbook_catalog.get(name)
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
    runtime = _offline()
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


def _inputs(pairs: list[str] | None) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(InputError(f"--input {pair!r} must look like name=value", field="input"))
        inputs[key.strip()] = value
    return inputs


def _print_plan(plan: PlanOut) -> None:
    console.print(f"[bold]dry-run of {plan.runbook}[/bold] on {plan.incident}: {escape(plan.title)}")
    if plan.inputs:
        console.print("  inputs: " + ", ".join(f"{k}={v}" for k, v in plan.inputs.items()))
    _print_steps(plan.steps)
    need = plan.approval
    if need.approvals_required:
        eyes = ", not the requester" if need.four_eyes else ""
        console.print(
            f"  a run needs {need.approvals_required} approval(s) from {', '.join(need.approvers)}{eyes}"
        )
    else:
        console.print("  a run starts without approval")


def _print_steps(steps: list[PlannedStepOut]) -> None:
    table = Table("#", "step", "action", "target", "plan")
    for i, step in enumerate(steps, 1):
        if step.error:
            what = f"[red]cannot plan: {escape(step.error)}[/red]"
        else:
            why = explain(step.details)
            what = escape(step.summary or "") + (f"\n[dim]{escape(why)}[/dim]" if why else "")
        table.add_row(str(i), step.step, step.action, escape(step.target or "—"), what)
    console.print(table)


_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "undone": "cyan",
    "running": "blue",
}


def _print_run(run: RunOut) -> None:
    style = _STATUS_STYLE.get(run.status.value, "white")
    console.print(
        f"[bold]{run.ref}[/bold] {run.runbook} on {run.incident}: [{style}]{run.status.value}[/{style}]"
        f"  (requested by {escape(run.requested_by_label)})"
    )
    if run.error:
        console.print(f"  error: {escape(run.error)}", soft_wrap=True)
    if run.end_reason:
        console.print(f"  ended: {run.end_reason} by {escape(run.ended_by or '?')}")
    table = Table("#", "step", "status", "what", "attempts")
    for step in run.steps:
        what = step.error if step.status == "failed" else (step.summary or step.action)
        table.add_row(
            str(step.position + 1), step.step, step.status.value, escape(what or ""), str(step.attempts)
        )
    for step in run.undo_steps:
        what = step.error if step.status == "failed" else (step.summary or "")
        table.add_row("↩", step.step, step.status.value, escape(what or ""), str(step.attempts))
    console.print(table)
    if run.status == RunStatus.AWAITING_APPROVAL:
        if run.plan is not None:
            console.print(f"  the plan it awaits approval on (dry-run of {run.created_at:%H:%M:%S} UTC):")
            _print_steps(run.plan)
        given = run.approvals_given
        console.print(
            f"  awaits {run.approvals_required - given} approval(s) from {', '.join(run.approvers)}: "
            f"incident-bot runbook approve {run.ref}"
        )


def _exit_for(run: RunOut) -> None:
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise typer.Exit(code=1)


async def _execute_if_ready(runtime: Runtime, run: RunOut, wait: bool) -> RunOut:
    if wait and run.status in (RunStatus.PENDING, RunStatus.UNDOING):
        return await flows.execute(runtime, run.ref)
    return run


@app.command("run")
def run_(
    name: Annotated[str, typer.Argument(help="Runbook name.")],
    incident: Annotated[str, typer.Option("--incident", "-i", help="INC-n")],
    input_: Annotated[list[str] | None, typer.Option("--input", help="name=value; repeatable.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan every step, change nothing.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Execute here and wait (default), or leave it to serve.")
    ] = True,
) -> None:
    """Run a runbook for an incident (or --dry-run it)."""
    runtime = _runtime()
    inputs = _inputs(input_)
    who = actor()

    async def _plan() -> PlanOut:
        try:
            return await flows.plan_run(runtime, name, incident, inputs, who)
        finally:
            await _close(runtime)

    async def _run() -> RunOut:
        try:
            started = await flows.start_run(runtime, name, incident, inputs, who)
            return await _execute_if_ready(runtime, started, wait)
        finally:
            await _close(runtime)

    if dry_run:
        plan = run(_plan)
        _print_plan(plan)
        if not plan.ok:
            raise typer.Exit(code=1)
        return
    result = run(_run)
    _print_run(result)
    _exit_for(result)


def _decision(call: Callable[[Runtime, str], Awaitable[RunOut]], ref: str, wait: bool) -> None:
    runtime = _runtime()

    async def _go() -> RunOut:
        try:
            return await _execute_if_ready(runtime, await call(runtime, ref), wait)
        finally:
            await _close(runtime)

    result = run(_go)
    _print_run(result)
    _exit_for(result)


_WAIT = typer.Option("--wait/--no-wait", help="Execute here and wait (default), or leave it to serve.")


@app.command("approve")
def approve(ref: Annotated[str, typer.Argument(help="RUN-n")], wait: Annotated[bool, _WAIT] = True) -> None:
    """Approve a run; the last approval needed starts it."""
    who = actor()
    _decision(lambda rt, r: flows.approve(rt, r, who), ref, wait)


@app.command("deny")
def deny(
    ref: Annotated[str, typer.Argument(help="RUN-n")],
    reason: Annotated[str, typer.Option(help="Why, for the timeline.")] = "",
) -> None:
    """Deny a run that awaits approval."""
    who = actor()
    _decision(lambda rt, r: flows.deny(rt, r, who, reason), ref, False)


@app.command("cancel")
def cancel(ref: Annotated[str, typer.Argument(help="RUN-n")]) -> None:
    """Cancel a waiting run, or stop a running one after its current step."""
    who = actor()
    _decision(lambda rt, r: flows.cancel(rt, r, who), ref, False)


@app.command("undo")
def undo(ref: Annotated[str, typer.Argument(help="RUN-n")], wait: Annotated[bool, _WAIT] = True) -> None:
    """Undo a finished run: the inverses of its changes, last first."""
    who = actor()
    _decision(lambda rt, r: flows.undo(rt, r, who), ref, wait)


@app.command("runs")
def runs(
    ref: Annotated[str | None, typer.Argument(help="RUN-n: show this run.")] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", "-i", help="Only this incident's runs.")
    ] = None,
    status: Annotated[list[RunStatus] | None, typer.Option("--status", help="Repeatable.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List runs, newest first, or show one."""
    runtime = _runtime()

    async def _one(run_ref: str) -> RunOut:
        try:
            return await flows.get_run(runtime, run_ref)
        finally:
            await _close(runtime)

    async def _many() -> list[RunOut]:
        try:
            return await flows.list_runs(runtime, incident_ref=incident, statuses=status or [], limit=limit)
        finally:
            await _close(runtime)

    if ref is not None:
        _print_run(run(_one, ref))
        return
    table = Table("run", "runbook", "incident", "status", "requested by", "created", title="runs")
    for item in run(_many):
        style = _STATUS_STYLE.get(item.status.value, "white")
        table.add_row(
            item.ref,
            item.runbook,
            item.incident,
            f"[{style}]{item.status.value}[/{style}]",
            escape(item.requested_by_label),
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)
