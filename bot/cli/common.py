"""Shared CLI plumbing: the root app, --config, settings, error reporting, async runner."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bot.auth.actor import Actor, cli_actor
from bot.config import Settings, load_settings
from bot.db import Database
from bot.errors import ConfigError, IncidentBotError

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
#: Width of output that goes to no terminal (a pipe, a file, CI): rich would cut it at 80.
PIPED_WIDTH = 1000


def _fit(out: Console) -> None:
    """Piped output is not wrapped at 80 columns; a terminal or COLUMNS decide otherwise."""
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH


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
    _fit(console)
    _fit(err_console)


def settings() -> Settings:
    return load_settings(state.config)


def actor() -> Actor:
    return cli_actor(state.user or getpass.getuser())


def fail(error: IncidentBotError) -> typer.Exit:
    """Print an error without a traceback; exit 2 for configuration errors, else 1."""
    err_console.print(f"[red]error:[/red] {error.message}", markup=True, soft_wrap=True)
    if error.hint:
        err_console.print(f"  hint: {error.hint}")
    return typer.Exit(code=2 if isinstance(error, ConfigError) else 1)


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
