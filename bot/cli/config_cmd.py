"""incident-bot config check: the report `serve` prints before it starts, without starting."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bot import migrate, preflight
from bot.cli.common import fail, load
from bot.cli.integrations_cmd import check_and_print
from bot.config import Settings
from bot.db import describe_url, sqlite_file
from bot.errors import IncidentBotError, InvalidConfigError
from integrations.wiring import build_integrations

app = typer.Typer(help="Configuration: check it before you start the bot.", no_args_is_help=True)


def preflight_or_fail(settings: Settings) -> preflight.Report:
    """Run the start-up checks; every problem at once (exit 2), warnings on stderr."""
    report = preflight.check(settings)
    for warning in report.warnings:
        sys.stderr.write(f"warning: {warning.line()}\n")
    if report.problems:
        raise fail(InvalidConfigError(report.problems))
    return report


@app.command("check")
def check(
    connect: Annotated[
        bool,
        typer.Option("--connect", help="Also connect: the database and every integration instance."),
    ] = False,
) -> None:
    """Check the whole configuration as `serve` does before it starts (exit 2 on a problem)."""
    settings = load()
    report = preflight_or_fail(settings)
    typer.echo(f"configuration: {settings.config_file or 'defaults and environment (no --config)'}")
    typer.echo(f"database: {describe_url(settings.database_url)}")
    typer.echo(f"templates: {settings.templates_path}")
    for line in report.checked:
        typer.echo(line)
    if not connect:
        typer.echo("configuration OK (add --connect to reach the database and the integrations)")
        return
    ok = _database(settings.database_url)
    ok = check_and_print(build_integrations(settings.integrations)) and ok
    typer.echo("configuration OK, everything reachable" if ok else "configuration OK; see the problems above")
    if not ok:
        raise typer.Exit(1)


def _database(url: str) -> bool:
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        typer.echo(f"database: {path} does not exist yet (`incident-bot serve` creates it)")
        return True
    try:
        migrate.require_schema(url)
    except IncidentBotError as exc:
        typer.echo(f"database: {exc.message}; {exc.hint}")
        return False
    typer.echo("database: reachable, schema up to date")
    return True
