"""Shared CLI plumbing: the root app, --config, settings, error reporting, async runner."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from bot.config import Settings, load_settings
from bot.db import Database
from bot.errors import ConfigError, IncidentBotError, PermissionDeniedError

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="incident-bot",
    help="Incident response and runbook automation for ML systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class State:
    config: Path | None = None
    user: str | None = None


state = State()


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML config file (or INCIDENT_BOT_CONFIG).", envvar="INCIDENT_BOT_CONFIG"
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--as", help="Who you are, for the timeline and audit log.")
    ] = None,
) -> None:
    state.config = config
    state.user = user


def settings() -> Settings:
    return load_settings(state.config)


def fail(error: IncidentBotError) -> typer.Exit:
    """Print an error without a traceback; exit 2 for configuration errors and refusals (one
    line: the rule and who may), else 1."""
    if isinstance(error, PermissionDeniedError) and error.hint:
        line = f"{escape(error.message)} ({escape(error.hint)})"
        err_console.print(f"[red]error:[/red] {line}", markup=True, soft_wrap=True)
    else:
        err_console.print(f"[red]error:[/red] {escape(error.message)}", markup=True, soft_wrap=True)
        if error.hint:
            err_console.print(f"  hint: {error.hint}", markup=False)
    refused = isinstance(error, ConfigError | PermissionDeniedError)
    return typer.Exit(code=2 if refused else 1)


def run(func: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine; turn the bot's errors into readable messages and exit codes."""
    try:
        return asyncio.run(func(*args, **kwargs))
    except IncidentBotError as exc:
        raise fail(exc) from None


def load() -> Settings:
    try:
        return settings()
    except ConfigError as exc:
        raise fail(exc) from None


def echo_err(text: str) -> None:
    sys.stderr.write(text + "\n")


@asynccontextmanager
async def database() -> AsyncIterator[Database]:
    """The configured database for one CLI command."""
    db = Database(load().database_url)
    try:
        yield db
    finally:
        await db.dispose()
