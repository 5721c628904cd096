"""incident-bot integrations ...: configured ML-platform instances and runbook actions."""

from __future__ import annotations

import typer
from rich.table import Table

from bot.cli.common import console, fail, load, run
from bot.errors import ConfigError
from integrations.base import CheckResult
from integrations.wiring import Integrations, build_integrations

app = typer.Typer(
    help="ML-platform integrations (registry, serving, orchestrator, metrics).", no_args_is_help=True
)


def _build() -> Integrations:
    try:
        return build_integrations(load().integrations)
    except ConfigError as exc:
        raise fail(exc) from None


@app.command("check")
def check() -> None:
    """Ping every configured instance: reachability, authentication, version."""
    if not check_and_print(_build()):
        raise typer.Exit(1)


def check_and_print(integrations: Integrations) -> bool:
    """Run every instance's check, print a table; True when all are fine (or none exist)."""

    async def _check() -> list[CheckResult]:
        try:
            return await integrations.check_all()
        finally:
            await integrations.aclose()

    results = run(_check)
    if not results:
        console.print("no integration instances are configured (see docs/integrations/)")
        return True
    table = Table("instance", "kind", "url", "reachable", "auth", "version", "problem")
    for r in results:
        auth = {True: "ok", False: "[red]refused[/red]", None: "—"}[r.authenticated]
        table.add_row(
            r.name,
            r.kind,
            r.url,
            "yes" if r.reachable else "[red]no[/red]",
            auth,
            r.version or "—",
            r.error or "",
        )
    console.print(table)
    return all(r.ok for r in results)


@app.command("actions")
def actions() -> None:
    """List the runbook actions this configuration provides."""
    integrations = _build()
    table = Table("action", "changes systems", "description")
    for action in integrations.actions:
        table.add_row(action.name, "yes" if action.mutating else "no", action.description)
    console.print(table)
    run(integrations.aclose)
