"""incident-bot serve: migrate (unless told not to) and run the web app with uvicorn."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
import uvicorn

from bot import migrate
from bot.app import create_app
from bot.cli.common import console, fail, load
from bot.errors import UnavailableError

#: Webhook inbox commits and SQLite calls run in worker threads that hand the GIL back and
#: forth with the event loop's thread; with Python's default 5 ms interval each hand-over
#: waited up to 5 ms while the loop was busy (paced webhook p99 on PostgreSQL 52 to 63 ms
#: with 5 ms, 37 to 41 ms with 1 ms; docs/benchmarks.md).
GIL_SWITCH_INTERVAL_S = 0.001


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
        migrate_db: Annotated[
            bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema first.")
        ] = True,
    ) -> None:
        """Run the bot: REST API, webhooks, chat and background jobs."""
        settings = load()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if migrate_db and settings.auto_migrate:
            try:
                migrate.upgrade(settings.database_url)
            except Exception as exc:
                raise fail(
                    UnavailableError(
                        f"cannot migrate the database: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                        hint="check INCIDENT_BOT_DATABASE_URL and that the database is reachable",
                    )
                ) from None
        elif not migrate.is_up_to_date(settings.database_url):
            raise fail(
                UnavailableError(
                    "the database schema is not up to date", hint="run `incident-bot db upgrade`"
                )
            )
        bind_host = host or settings.host
        bind_port = port or settings.port
        console.print(
            f"incident-bot on http://{bind_host}:{bind_port} (API docs at /docs), "
            f"database {settings.database_url.split('@')[-1]}"
        )
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        uvicorn.run(
            create_app(settings),
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level.lower(),
            # Access lines are INFO: above that level they would be dropped, but uvicorn would
            # still build each one (path quoting, client address) on every request.
            access_log=logging.getLevelName(settings.log_level) <= logging.INFO,
            proxy_headers=True,
        )
