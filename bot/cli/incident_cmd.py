"""incident-bot incident ...: read and change incidents from a terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.access import actor, services
from bot.cli.common import console, database, load, run
from bot.errors import InputError
from bot.incident import flows
from bot.incident.domain import Role, Severity, Status
from bot.incident.schemas import (
    IncidentCreate,
    IncidentOut,
    IncidentQuery,
    IncidentUpdate,
    RoleChange,
    TimelineEventOut,
)
from bot.postmortem.render import render_postmortem

app = typer.Typer(help="Incidents: list, show, declare, acknowledge, update.", no_args_is_help=True)

_SEV_STYLE = {"SEV1": "bold red", "SEV2": "red", "SEV3": "yellow", "SEV4": "cyan"}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


@app.command("list")
def list_(
    status: Annotated[list[Status] | None, typer.Option("--status", help="Repeatable.")] = None,
    severity: Annotated[list[Severity] | None, typer.Option("--severity", help="Repeatable.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only unresolved incidents.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List incidents, newest first."""
    query = IncidentQuery(status=status or [], severity=severity or [], open_only=open_only, limit=limit)

    async def _list() -> tuple[list[IncidentOut], int]:
        async with database() as db:
            return await flows.list_incidents(db, query)

    items, total = run(_list)
    table = Table("ref", "sev", "status", "title", "commander", "declared", title=f"{total} incident(s)")
    for i in items:
        commander = i.roles.get(Role.COMMANDER.value)
        table.add_row(
            i.ref,
            f"[{_SEV_STYLE[i.severity.value]}]{i.severity.value}[/]",
            i.status.value,
            i.title,
            commander.assignee if commander else "—",
            _when(i.declared_at),
        )
    console.print(table)


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="INC-n")]) -> None:
    """Show one incident with its roles and timeline."""

    async def _show() -> tuple[IncidentOut, list[TimelineEventOut]]:
        async with database() as db:
            return await flows.get_incident(db, ref), await flows.get_timeline(db, ref)

    incident, events = run(_show)
    sev = incident.severity.value
    console.print(f"[bold]{incident.ref}[/bold]  [{_SEV_STYLE[sev]}]{sev}[/]  {incident.status.value}")
    console.print(f"[bold]{incident.title}[/bold]")
    if incident.summary:
        console.print(incident.summary)
    for label, value in (
        ("models", ", ".join(incident.models)),
        ("services", ", ".join(incident.services)),
        ("labels", ", ".join(f"{k}={v}" for k, v in incident.labels.items())),
        ("channel", incident.chat_channel_name and f"#{incident.chat_channel_name}"),
    ):
        if value:
            console.print(f"  {label}: {value}")
    for role in Role:
        holder = incident.roles.get(role.value)
        console.print(f"  {role.display}: {holder.assignee if holder else '—'}")
    for label, when in (
        ("detected", incident.detected_at),
        ("declared", incident.declared_at),
        ("acknowledged", incident.acknowledged_at),
        ("mitigated", incident.mitigated_at),
        ("resolved", incident.resolved_at),
        ("closed", incident.closed_at),
    ):
        console.print(f"  {label}: {_when(when)}")
    table = Table("time (UTC)", "who", "what", title="timeline")
    for e in events:
        table.add_row(e.at.strftime("%H:%M:%S"), f"{e.actor} ({e.interface})", e.text)
    console.print(table)


@app.command("declare")
def declare(
    title: Annotated[str, typer.Option(help="What is wrong, in a line.")],
    severity: Annotated[Severity, typer.Option()] = Severity.SEV3,
    summary: Annotated[str, typer.Option()] = "",
    model: Annotated[list[str] | None, typer.Option(help="Affected model; repeatable.")] = None,
    service: Annotated[list[str] | None, typer.Option(help="Affected service; repeatable.")] = None,
) -> None:
    """Declare an incident."""
    data = IncidentCreate(
        title=title, severity=severity, summary=summary, models=model or [], services=service or []
    )

    who = actor()

    async def _declare() -> IncidentOut:
        async with services() as (db, authz):
            return await flows.declare_incident(db, data, who, authz=authz)

    incident = run(_declare)
    console.print(f"declared {incident.ref}: {incident.title} ({incident.severity.value})")


@app.command("update")
def update(
    ref: str,
    status: Annotated[Status | None, typer.Option()] = None,
    severity: Annotated[Severity | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change status, severity or title."""
    if status is None and severity is None and title is None:
        raise InputError(
            f"nothing to change on {ref.upper()}", hint="give --status, --severity or --title (see --help)"
        )
    body = IncidentUpdate(status=status, severity=severity, title=title, reason=reason)

    who = actor()

    async def _update() -> IncidentOut:
        async with services() as (db, authz):
            return await flows.update_incident(db, ref, body, who, authz=authz)

    incident = run(_update)
    console.print(f"{incident.ref}: {incident.severity.value}, {incident.status.value}, {incident.title}")


@app.command("ack")
def ack(ref: Annotated[str, typer.Argument(help="INC-n")]) -> None:
    """Acknowledge an incident: first response (stops the escalation of an unacknowledged one)."""

    who = actor()

    async def _ack() -> IncidentOut:
        async with services() as (db, authz):
            return await flows.acknowledge(db, ref, who, authz=authz)

    incident = run(_ack)
    when = _when(incident.acknowledged_at)
    console.print(f"{incident.ref} acknowledged ({when}); status {incident.status.value}")


@app.command("note")
def note(ref: str, text: str) -> None:
    """Add a note to the timeline."""

    who = actor()

    async def _note() -> None:
        async with services() as (db, authz):
            await flows.add_note(db, ref, text, who, authz=authz)

    run(_note)
    console.print(f"note added to {ref.upper()}")


@app.command("assign")
def assign(ref: str, role: Role, person: str) -> None:
    """Assign a role (a hand-over if someone holds it)."""

    who = actor()

    async def _assign() -> RoleChange:
        async with services() as (db, authz):
            return await flows.assign_role(db, ref, role, person, who, authz=authz)

    change = run(_assign)
    if not change.changed:
        console.print(f"{person} already is the {role.display.lower()}")
    elif change.previous:
        console.print(f"{role.display} handed over from {change.previous} to {person}")
    else:
        console.print(f"{role.display}: {person}")


@app.command("postmortem")
def postmortem(
    ref: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Print (or write) the blameless postmortem draft built from the timeline."""
    settings = load()

    async def _render() -> str:
        async with database() as db:
            return await render_postmortem(db, ref, settings.templates_path)

    text = run(_render)
    if output is None:
        print(text)
    else:
        output.write_text(text)
        console.print(f"postmortem draft for {ref.upper()} written to {output}")
