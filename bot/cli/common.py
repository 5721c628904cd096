"""Shared CLI plumbing: the root app, --config, settings, error reporting, async runner.

Errors follow one rule for every command (``bot.cli.group``): an expected error is one line
and exit code 2, an unexpected one a line naming a log file and exit code 3.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bot import migrate
from bot.cli.group import EXPECTED_EXIT, BotGroup, flags, report
from bot.config import Settings, load_settings
from bot.db import Database, describe_url
from bot.errors import ConfigError, IncidentBotError, NotFoundError, UnavailableError

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
    cls=BotGroup,
    name="incident-bot",
    help="Incident response and runbook automation for ML systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class State:
    config: Path | None = None
    user: str | None = None
    #: The database the command opened, as messages name it.
    database: str | None = None


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
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error here.")
    ] = False,
) -> None:
    state.config = config
    state.user = user
    state.database = None
    flags.debug = debug
    _fit(console)
    _fit(err_console)


def settings() -> Settings:
    return load_settings(state.config)


def fail(error: IncidentBotError) -> typer.Exit:
    """Print an expected error in one line (what, where, what to do); exit code 2."""
    report(error)
    return typer.Exit(code=EXPECTED_EXIT)


def run(func: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine; turn the bot's errors into readable messages and exit codes."""
    try:
        return asyncio.run(func(*args, **kwargs))
    except IncidentBotError as exc:
        if state.database and isinstance(exc, NotFoundError | UnavailableError):
            exc.message = f"{exc.message} (database: {state.database})"
        raise fail(exc) from None


def load() -> Settings:
    try:
        return settings()
    except ConfigError as exc:
        raise fail(exc) from None


def echo_err(text: str) -> None:
    sys.stderr.write(text + "\n")


def require_database(url: str) -> None:
    """The database exists with this version's schema (only `serve` and `db upgrade` create
    one); otherwise one line saying where the bot looked and how to point at the right one."""
    try:
        migrate.require_schema(url)
    except IncidentBotError as exc:
        raise fail(exc) from None
    state.database = describe_url(url)


@asynccontextmanager
async def database() -> AsyncIterator[Database]:
    """The configured database for one CLI command: it must exist with this version's schema
    (only `serve` and `db upgrade` create one); the error says where the bot looked."""
    url = load().database_url
    require_database(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
