"""incident-bot db ...: schema migrations."""

from __future__ import annotations

import typer

from bot import migrate
from bot.cli.common import console, load
from bot.db import describe_url, sqlite_file
from bot.errors import ConfigError

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    url = load().database_url
    migrate.upgrade(url)
    console.print(
        f"database schema up to date: {', '.join(sorted(migrate.head_revisions()))} ({describe_url(url)})",
        markup=False,
        soft_wrap=True,
    )


@app.command("current")
def current() -> None:
    """Show the schema revision of the database and whether it is up to date."""
    url = load().database_url
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise ConfigError(
            f"no database at {path}", hint=f"`incident-bot db upgrade` creates it, or {migrate.POINT_AT_IT}"
        )
    revisions = migrate.current_revisions(url)
    heads = migrate.head_revisions()
    console.print(f"database: {describe_url(url)}", markup=False, soft_wrap=True)
    console.print(f"current: {', '.join(sorted(revisions)) or '(empty database)'}")
    console.print("up to date" if revisions == heads else f"behind; latest: {', '.join(sorted(heads))}")
    if revisions != heads:
        raise typer.Exit(1)
