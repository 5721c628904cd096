"""incident-bot db ...: schema migrations."""

from __future__ import annotations

import typer

from bot import migrate
from bot.cli.common import console, fail, load
from bot.errors import UnavailableError

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = load()
    try:
        migrate.upgrade(settings.database_url)
    except Exception as exc:  # sqlalchemy/driver errors: say which database and why
        raise fail(
            UnavailableError(
                f"cannot migrate the database: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                hint="check INCIDENT_BOT_DATABASE_URL and that the database is reachable",
            )
        ) from None
    console.print(f"database schema up to date: {', '.join(sorted(migrate.head_revisions()))}")


@app.command("current")
def current() -> None:
    """Show the schema revision of the database and whether it is up to date."""
    settings = load()
    revisions = migrate.current_revisions(settings.database_url)
    heads = migrate.head_revisions()
    console.print(f"current: {', '.join(sorted(revisions)) or '(empty database)'}")
    console.print("up to date" if revisions == heads else f"behind; latest: {', '.join(sorted(heads))}")
    if revisions != heads:
        raise typer.Exit(1)
