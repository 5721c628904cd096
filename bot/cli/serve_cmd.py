"""incident-bot serve: check, bind, migrate (unless told not to), then run the web app.

The order is what makes mistakes cheap: the whole configuration is checked before anything is
printed (every problem at once, exit 2); the port is bound before any migration, so a second
`serve` on a busy port says so in one line and touches nothing; only then the schema is
upgraded and uvicorn serves on the socket already bound.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import traceback
from collections.abc import MutableMapping
from typing import Annotated, Any

import typer
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import __version__, migrate
from bot.app import create_app
from bot.cli.common import load
from bot.cli.config_cmd import preflight_or_fail
from bot.cli.group import write_crash_log
from bot.config import Settings
from bot.db import describe_url, sqlite_file
from bot.errors import ConfigError

#: Webhook inbox commits and SQLite calls run in worker threads that hand the GIL back and
#: forth with the event loop's thread; with Python's default 5 ms interval each hand-over
#: waited up to 5 ms while the loop was busy (paced webhook p99 on PostgreSQL 52 to 63 ms
#: with 5 ms, 37 to 41 ms with 1 ms; docs/benchmarks.md).
GIL_SWITCH_INTERVAL_S = 0.001

#: Loggers too chatty at INFO for an operator: APScheduler writes two lines per job run, every
#: minute; Alembic four lines per start (the banner says what the migration did).
QUIET_AT_INFO = ("apscheduler", "alembic")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    numeric = logging.getLevelNamesMapping()[level]
    # At DEBUG an operator asked for everything; otherwise these speak from WARNING up.
    quiet = numeric if numeric <= logging.DEBUG else max(logging.WARNING, numeric)
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(quiet)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (as uvicorn would bind it); a busy port is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another incident-bot serve?)",
                hint="stop that process, or choose another port with --port or INCIDENT_BOT_PORT",
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="check --host/--port (INCIDENT_BOT_HOST, INCIDENT_BOT_PORT)",
        ) from None
    sock.set_inheritable(True)
    return sock


class OneLineStartupFailure:
    """A failure while the app starts (its lifespan) becomes one log line naming the file
    that holds the traceback, instead of the traceback itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def one_line(message: MutableMapping[str, Any]) -> None:
            if message["type"] in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                error = sys.exc_info()[1]
                if error is not None:
                    path = write_crash_log(error)
                    first = traceback.format_exception_only(error)[-1].strip()
                    phase = "start-up" if "startup" in message["type"] else "shutdown"
                    message = {**message, "message": f"{phase} failed: {first}; the traceback is in {path}"}
            await send(message)

        await self.app(scope, receive, one_line)


def upgrade_schema(url: str) -> str:
    """Upgrade the schema; what happened, for the banner."""
    path = sqlite_file(url)
    before = migrate.current_revisions(url) if path is None or path.is_file() else set()
    migrate.upgrade(url)
    after = migrate.head_revisions()
    if before == after:
        return "schema up to date"
    if not before:
        return f"schema created: {', '.join(sorted(after))}"
    return f"schema upgraded: {', '.join(sorted(before))} → {', '.join(sorted(after))}"


def banner(settings: Settings, host: str, port: int, schema: str) -> str:
    local = host in ("0.0.0.0", "::", "")  # noqa: S104 - describing, not binding
    url = f"http://{'127.0.0.1' if local else host}:{port}"
    cli = (
        f"incident-bot --config {settings.config_file.resolve()}" if settings.config_file else "incident-bot"
    )
    return "\n".join(
        [
            f"incident-bot {__version__} serving on {url}" + (" (all interfaces)" if local else ""),
            f"  API docs:  {url}/docs",
            f"  database:  {describe_url(settings.database_url)} ({schema})",
            f"  next, in another terminal in this folder: {cli} token create me --scope admin",
            "  stop with Ctrl-C",
        ]
    )


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
        preflight_or_fail(settings)
        bind_host = host or settings.host
        bind_port = port or settings.port
        sock = bind(bind_host, bind_port)
        try:
            configure_logging(settings.log_level)
            if migrate_db and settings.auto_migrate:
                schema = upgrade_schema(settings.database_url)
            else:
                migrate.require_schema(settings.database_url)
                schema = "schema up to date"
            web_app = OneLineStartupFailure(create_app(settings))
            print(banner(settings, bind_host, bind_port, schema), flush=True)
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
            config = uvicorn.Config(
                web_app,
                log_level=settings.log_level.lower(),
                # Access lines are INFO: above that level they would be dropped, but uvicorn would
                # still build each one (path quoting, client address) on every request.
                access_log=logging.getLevelName(settings.log_level) <= logging.INFO,
                proxy_headers=True,
            )
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
