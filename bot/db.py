"""Database access: one async engine per process, sessions, transactions.

SQLite (embedded default) runs in WAL mode with a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue instead of deadlocking on a lock upgrade. Inside
one process, writers also queue on an asyncio lock before ``BEGIN`` (``WriteQueue``): SQLite's
own busy handler polls with sleeps of up to 100 ms, which under load made writers wait seconds
for a lock that was free most of that time. Another process (a CLI command) still meets the
busy timeout.
PostgreSQL (production, several replicas) is reached through psycopg 3.

Users give ordinary URLs (``sqlite:///file.db``, ``postgresql+psycopg://...``); the async
driver is chosen here. Alembic (bot/migrations) uses the same URL with a sync driver.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import UnavailableError

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sync_url(url: str) -> URL:
    """The URL with a synchronous driver (Alembic, tests)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def async_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+psycopg")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite database file (relative paths: the working directory);
    None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def describe_url(url: str) -> str:
    """The database as messages name it: a SQLite file's absolute path, or a PostgreSQL URL
    without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        return f"SQLite {path}" if path else "in-memory SQLite"
    shown = parsed.set(drivername=parsed.get_backend_name(), password=None, query={})
    return f"PostgreSQL {shown.render_as_string(hide_password=True)}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


CommitHook = Callable[[list[Any]], None]


class WriteQueue:
    """One SQLite write transaction at a time in this process; urgent writers go first.

    Urgent writers (the webhook inbox, whose senders wait for the commit) are served before
    the queued background writers (alert processing, chat delivery, reminders), so that a
    webhook waits for at most the one transaction in progress.
    """

    def __init__(self) -> None:
        self._locked = False
        self._holder: asyncio.Task[Any] | None = None
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._normal: collections.deque[asyncio.Future[None]] = collections.deque()

    @contextlib.asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # Waiting would deadlock: the outer transaction cannot finish before this one.
            raise RuntimeError("nested write transaction on SQLite (one writer at a time)")
        if self._locked:
            queue = self._urgent if urgent else self._normal
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.append(waiter)
            try:
                await waiter  # on wake-up the lock is already ours (handed over, still locked)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # handed over just before the cancellation: pass it on
                else:
                    queue.remove(waiter)
                raise
        self._locked = True
        self._holder = task
        try:
            yield
        finally:
            self._holder = None
            self._release()

    def _release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._locked = False


class Database:
    """Engine and session factories. ``transaction()`` is the unit of work of every door."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        self.engine = create_async_engine(async_url(url), **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine)
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        )
        self._read = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write = async_sessionmaker(write_engine, class_=AsyncSession, expire_on_commit=False)
        self._writers = WriteQueue() if self.is_sqlite else None
        #: ``insert_many``: a synchronous engine driven by one worker thread (made on first use).
        self._bulk: tuple[Engine, ThreadPoolExecutor] | None = None
        #: Called after each successful commit with what the transaction queued in
        #: ``session.info["after_commit"]`` (e.g. incident change notifications).
        self.commit_hooks: list[CommitHook] = []

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session (no commit)."""
        async with self._read() as session:
            try:
                yield session
            except (OperationalError, DBAPIError) as exc:
                if _is_connectivity(exc):
                    raise _unavailable(exc) from exc
                raise

    @contextlib.asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits on success, rolls back on any error, nothing half-done.

        ``urgent``: someone is waiting for this commit (a webhook sender); on SQLite it goes
        before the background writers queued in this process."""
        async with contextlib.AsyncExitStack() as stack:
            if self._writers is not None:
                await stack.enter_async_context(self._writers.hold(urgent=urgent))
            session = await stack.enter_async_context(self._write())
            try:
                async with session.begin():
                    yield session
            except (OperationalError, DBAPIError) as exc:
                if _is_connectivity(exc):
                    raise _unavailable(exc) from exc
                raise
            queued = session.info.pop("after_commit", [])
        if queued:
            for hook in self.commit_hooks:
                hook(queued)

    async def insert_many(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        *,
        urgent: bool = False,
        skip_existing: bool = False,
    ) -> None:
        """Insert ``rows`` into ``table`` in one committed transaction, in one hop to a worker
        thread.

        Through the async driver a commit costs a hop between the event loop and the driver per
        step (begin, execute, commit, return to the pool), and under load each hop waits for
        a turn of the busy loop; here the whole transaction runs in the thread while the loop
        serves requests (the webhook inbox's group commit), through ``bulk_insert``.

        ``skip_existing``: rows whose primary key is already taken are left out (a copy
        repeated after a crash, see ``bot.alert.spool``), with an ``ON CONFLICT DO NOTHING``
        executemany."""
        async with contextlib.AsyncExitStack() as stack:
            if self._writers is not None:
                await stack.enter_async_context(self._writers.hold(urgent=urgent))
            engine, thread = self._bulk_engine()
            try:
                await asyncio.get_running_loop().run_in_executor(
                    thread, _insert_committed, engine, table, rows, skip_existing
                )
            except (OperationalError, DBAPIError) as exc:
                if _is_connectivity(exc):
                    raise _unavailable(exc) from exc
                raise

    def _bulk_engine(self) -> tuple[Engine, ThreadPoolExecutor]:
        if self._bulk is None:
            # No pre-ping (a round trip per commit): a connection found dead fails its commit
            # (503, the senders retry) and is replaced on the next one.
            engine = (
                threaded_sqlite_engine(sync_url(self.url))
                if self.is_sqlite
                else create_engine(sync_url(self.url), pool_size=1, max_overflow=0)
            )
            self._bulk = (engine, ThreadPoolExecutor(1, thread_name_prefix="db-insert-many"))
        return self._bulk

    async def ping(self) -> None:
        async with self.session() as session:
            await (await session.connection()).execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._bulk is not None:
            engine, thread = self._bulk
            self._bulk = None
            await asyncio.get_running_loop().run_in_executor(thread, engine.dispose)
            thread.shutdown(wait=False)


def threaded_sqlite_engine(url: URL) -> Engine:
    """A synchronous SQLite engine for one worker thread whose commits are durable: writes
    begin IMMEDIATE, and every commit syncs the WAL (``synchronous=FULL``)."""
    engine = create_engine(
        url, pool_size=1, max_overflow=0, connect_args={"timeout": 10, "check_same_thread": False}
    )
    _configure_sqlite(engine)
    event.listen(engine, "connect", _sync_every_commit)
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _sync_every_commit(dbapi_connection: Any, _record: Any) -> None:
    """Acknowledged means on disk: the commits of these connections (webhook bodies) sync the
    WAL.

    In WAL mode ``synchronous=NORMAL`` (the other connections) survives a crash of the bot but
    may lose the last commits on power loss; ``FULL`` here syncs at each commit, which also
    makes every commit written before it durable."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _insert_committed(engine: Engine, table: Table, rows: list[dict[str, Any]], skip_existing: bool) -> None:
    if skip_existing:
        dialect_insert = sqlite_insert if engine.dialect.name == "sqlite" else postgresql_insert
        with engine.begin() as connection:
            connection.execute(dialect_insert(table).on_conflict_do_nothing(), rows)
    elif engine.dialect.name == "postgresql":
        # One COPY is one statement, atomic and committed on its own: without BEGIN and COMMIT
        # the commit takes two round trips fewer (each one a wait for the busy CPUs).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            bulk_insert(connection, table, rows)
    else:
        with engine.begin() as connection:
            bulk_insert(connection, table, rows)


def bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys; keys that are not columns of ``table`` are
    ignored, as by SQLAlchemy's insert) in the connection's transaction through the
    driver's fastest path: ``COPY ... FROM STDIN`` on PostgreSQL, one ``executemany`` of plain
    tuples on SQLite. Values pass through their columns' own bind processors, so they are
    stored exactly as SQLAlchemy stores them (UTC timestamps, JSON).

    This is the webhook group commit. SQLAlchemy's executemany builds each row's parameters
    in Python (and psycopg then pipelines one INSERT per row) in the commit thread, holding
    the GIL that the event loop serving the webhooks needs (storm intake on PostgreSQL
    0.36x → 0.48x of bare FastAPI; docs/benchmarks.md)."""
    if not rows:
        return
    dialect = connection.dialect
    names = [name for name in rows[0] if name in table.c]
    pairs = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
    values = [
        tuple(row[name] if process is None else process(row[name]) for name, process in pairs) for row in rows
    ]
    quote = dialect.identifier_preparer.quote
    table_name = dialect.identifier_preparer.format_table(table)
    columns = ", ".join(quote(name) for name in names)
    if dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table_name} ({columns}) FROM STDIN") as copy:
            for row_values in values:
                copy.write_row(row_values)
        return
    placeholders = ", ".join("?" for _ in names)  # sqlite3's paramstyle
    # Identifiers are the table's own, quoted by the dialect; every value is a bound parameter.
    statement = f"INSERT INTO {table_name} ({columns}) VALUES ({placeholders})"  # noqa: S608
    connection.exec_driver_sql(statement, values)


def after_commit(session: AsyncSession, item: Any) -> None:
    """Queue ``item`` for the commit hooks; dropped if the transaction rolls back."""
    session.info.setdefault("after_commit", []).append(item)


def _is_connectivity(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


def _unavailable(exc: Exception) -> UnavailableError:
    text = str(exc)
    cause = type(getattr(exc, "orig", exc)).__name__
    if "no such table" in text or "no such column" in text or cause in ("UndefinedTable", "UndefinedColumn"):
        return UnavailableError(
            "the database schema is missing or outdated",
            hint="run `incident-bot db upgrade` (serve does it unless --no-migrate)",
        )
    return UnavailableError(
        "the database is unavailable",
        hint="check that the database is reachable and not locked; retry later",
        error=type(exc).__name__,
    )
