"""The engine a gateway process opens: its pool, sized by the settings, and connections
the server dropped (as a PostgreSQL restart drops them all) replaced before use."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy import text

from secgate.settings import Settings
from secgate.storage.db import (
    create_engine,
    open_engine,
    read_connection,
    read_session,
    session_factory,
)


async def test_the_pool_keeps_db_pool_connections_and_closes_the_overflow(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        database_url=postgres_url, db_pool_connections=2, db_overflow_connections=1
    )
    engine = open_engine(settings)
    try:
        async with AsyncExitStack() as stack:
            held = [await stack.enter_async_context(engine.connect()) for _ in range(3)]
            for conn in held:
                assert await conn.scalar(text("SELECT 1")) == 1
            assert engine.pool.checkedout() == 3  # type: ignore[attr-defined]
        # The one opened beyond the pool was closed when it came back.
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_the_pool_settings_leave_sqlite_alone(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(database_url=sqlite_url, db_pool_connections=1)
    engine = open_engine(settings)
    try:
        async with engine.connect() as first, engine.connect() as second:
            assert await first.scalar(text("SELECT 1")) == await second.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_a_pooled_connection_the_server_dropped_is_replaced_unseen(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    engine = open_engine(make_settings(database_url=postgres_url))
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            driver = (await conn.get_raw_connection()).driver_connection
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        async with admin.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # Terminating is asynchronous, and the closed socket reaches the client a moment
        # after the backend has left pg_stat_activity: wait until the driver has read it
        # (a checkout within that moment gets the connection; see _replace_closed).
        async with asyncio.timeout(5):
            while not driver.is_closed():  # noqa: ASYNC110 (the driver offers nothing to wait on)
                await asyncio.sleep(0.01)
        # The pool still holds the dead connection; the check on checkout replaces it.
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await admin.dispose()
        await engine.dispose()


async def test_a_read_connection_runs_each_statement_in_a_transaction_of_its_own(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    # No BEGIN and ROLLBACK around the statements (two round trips a request).
    engine = open_engine(make_settings(database_url=postgres_url))
    try:
        async with read_connection(engine) as conn:
            first = await conn.scalar(text("SELECT txid_current()"))
            second = await conn.scalar(text("SELECT txid_current()"))
        assert first != second
        # Given back to the pool as it was: a plain connection is transactional again.
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT txid_current()"))
            assert await conn.scalar(text("SELECT txid_current()")) == first
    finally:
        await engine.dispose()


async def test_a_read_session_commits_each_statement_on_postgresql(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    engine = open_engine(make_settings(database_url=postgres_url))
    try:
        async with read_session(session_factory(engine)) as session:
            first = await session.scalar(text("SELECT txid_current()"))
            assert await session.scalar(text("SELECT txid_current()")) != first
    finally:
        await engine.dispose()


async def test_a_read_session_on_sqlite_keeps_one_transaction(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    # SQLite costs no round trip and gives one snapshot per transaction: kept as it is,
    # so a write not committed is rolled back with the session.
    engine = open_engine(make_settings(database_url=sqlite_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS read_session_probe (n INTEGER)"))
        async with read_session(session_factory(engine)) as session:
            await session.execute(text("INSERT INTO read_session_probe VALUES (1)"))
        async with read_connection(engine) as conn:
            assert await conn.scalar(text("SELECT count(*) FROM read_session_probe")) == 0
    finally:
        await engine.dispose()


async def test_a_sqlite_connection_whose_setup_was_cancelled_leaves_no_lock_behind(
    tmp_path: Path,
) -> None:
    # Shutdown cancels tasks that may be opening a connection; on a new file its setup
    # switches the journal to WAL. Nothing of it may keep the file locked afterwards,
    # or every other connection waits out its busy timeout (30 s in the app).
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    blocker = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the setup waits for it
    engine = create_engine(url)
    other = create_engine(url, connect_args={"timeout": 1})

    async def open_connection() -> None:
        async with engine.connect():
            pass

    try:
        opening = asyncio.create_task(open_connection())
        await asyncio.sleep(0.2)  # its setup now waits for the blocker
        opening.cancel()
        blocker.rollback()  # the setup goes on in the driver's thread, with no one to see it
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        async with other.begin() as conn:
            await conn.execute(text("CREATE TABLE written_after (n INTEGER)"))
    finally:
        blocker.close()
        await other.dispose()
        await engine.dispose()
