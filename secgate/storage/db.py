"""Opening the durable store: one async engine and a session factory per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from secgate.settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Wait for a writer instead of failing at once with "database is locked".
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping") and url.get_backend_name() == "postgresql":
        event.listen(engine.sync_engine, "checkout", _replace_closed)
    return engine


def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A connection the server closed (a restart, pg_terminate_backend, an idle
    timeout: each sends FATAL and closes the socket) is replaced before a request uses
    it. The driver has read that close as soon as the event loop ran, so asking it
    costs no round trip; SQLAlchemy's pool_pre_ping costs three on asyncpg (BEGIN, an
    empty query, ROLLBACK), six of a 1-number send's sixteen. What it would catch
    beyond this, a peer gone silent, it can only wait for as the request itself would;
    and a checkout in the moment between the server's FATAL message and its closing of
    the socket still gets the connection, whose statement then fails (asyncpg's
    InternalClientError, wrapped by SQLAlchemy; ConnectionDoesNotExistError when the
    checkout came before the FATAL message). Its request is answered 503: both are store
    failures to secgate.web.store_failures. A statement that meets a closed connection
    invalidates the whole pool (SQLAlchemy's disconnect handling), so one failure at
    most follows a restart."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        # The pool discards this connection and checks out another (or a new one).
        raise exc.DisconnectionError("the server closed this pooled connection")


def open_engine(settings: Settings) -> AsyncEngine:
    """The engine of a gateway or dispatcher process: the settings' database, with
    their pool size on PostgreSQL (SQLite keeps SQLAlchemy's own pooling)."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return create_engine(settings.database_url)
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_connections,
        max_overflow=settings.db_overflow_connections,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    # One script, run to its end in one call on the driver's thread: statement by
    # statement, a task cancelled while its new connection is set up (as shutdown does)
    # leaves the journal-mode switch unfinished, and its lock (a closed connection's
    # too) outlives the connection until the garbage collector frees the cursor;
    # meanwhile every other connection waits out its 30 s busy timeout.
    dbapi_connection.run_async(
        lambda driver: driver.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
        )
    )


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for reads. On PostgreSQL each statement is a transaction of
    its own: no BEGIN and ROLLBACK round trips around it, and it reads what it would
    in a READ COMMITTED transaction (PostgreSQL's default), which takes a snapshot per
    statement too. A caller needing one snapshot for several statements uses a session."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


@asynccontextmanager
async def read_session(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """On PostgreSQL, a session whose statements each run in a transaction of their
    own, as in read_connection: for reads, and writes of one statement each (a commit
    then has nothing left to do). Spares the BEGIN and ROLLBACK round trips of a
    session. SQLite (no round trips; one snapshot per transaction) keeps its own."""
    async with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
