"""Run Alembic migrations programmatically (``incident-bot db upgrade``, ``serve``, tests).

Failures are the bot's own errors naming the database (a SQLite file's absolute path, a
PostgreSQL URL without its password) and what to do; ``require_schema`` is how every command
but ``serve`` and ``db upgrade`` opens the database: it never creates an empty one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.db import describe_url, sqlite_file, sync_url
from bot.errors import ConfigError, UnavailableError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: How to point a command at the right database (said wherever a database is not found).
POINT_AT_IT = (
    "point at it with INCIDENT_BOT_DATABASE_URL=sqlite:////path/to/incident-bot.db "
    "(or database_url in a --config file)"
)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _scripts() -> ScriptDirectory:
    if not (MIGRATIONS_DIR / "versions").is_dir():
        raise ConfigError(
            f"this installation of incident-bot is incomplete: no migrations in {MIGRATIONS_DIR}",
            hint="reinstall it (pip install --force-reinstall incident-bot, "
            "or `pip install .` in a checkout)",
        )
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _unreachable(url: str, exc: Exception) -> UnavailableError:
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return UnavailableError(
        f"cannot use the database {describe_url(url)}: {cause[0] if cause else type(exc).__name__}",
        hint="check that it runs and is reachable from here, and database_url "
        "(INCIDENT_BOT_DATABASE_URL, or database_url in a --config file)",
    )


def upgrade(url: str, revision: str = "heads") -> None:
    """Create or upgrade the schema (a SQLite file is created if missing)."""
    _scripts()
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"cannot create the database {path}: folder {path.parent} does not exist",
            hint="create the folder, or " + POINT_AT_IT,
        )
    try:
        command.upgrade(alembic_config(url), revision)
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise _unreachable(url, exc) from None


def current_revisions(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        raise _unreachable(url, exc) from None
    finally:
        engine.dispose()


def head_revisions() -> set[str]:
    return set(_scripts().get_heads())


def is_up_to_date(url: str) -> bool:
    return current_revisions(url) == head_revisions()


def require_schema(url: str) -> None:
    """The database exists and has this version's schema; otherwise an error that says where
    the bot looked and how to fix it. Creates nothing."""
    _scripts()
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        relative = not Path(make_url(url).database or "").expanduser().is_absolute()
        raise ConfigError(
            f"no database at {path}" + (f" ({url} is relative to the working directory)" if relative else ""),
            hint=f"run this where `incident-bot serve` runs, or {POINT_AT_IT}; "
            "`incident-bot db upgrade` creates an empty one",
        )
    current = current_revisions(url)
    heads = head_revisions()
    if current == heads:
        return
    where = describe_url(url)
    if not current:
        raise ConfigError(
            f"the database {where} has no incident-bot schema",
            hint="run `incident-bot db upgrade` to create it, or " + POINT_AT_IT,
        )
    known = {script.revision for script in _scripts().walk_revisions()}
    if current - known:
        raise ConfigError(
            f"the database {where} was upgraded by a newer incident-bot "
            f"(revision {', '.join(sorted(current - known))})",
            hint="upgrade this installation of incident-bot",
        )
    raise ConfigError(
        f"the database schema of {where} is not up to date "
        f"({', '.join(sorted(current))}; latest {', '.join(sorted(heads))})",
        hint="run `incident-bot db upgrade` (serve does it unless --no-migrate)",
    )
