"""The engine a gateway process opens: its pool, sized by the settings, and connections
the server dropped (as a PostgreSQL restart drops them all) replaced before use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack

from sqlalchemy import text

from secgate.settings import Settings
from secgate.storage.db import create_engine, open_engine


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
        assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        async with admin.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # Terminating is asynchronous: wait until the backend is gone.
            async with asyncio.timeout(5):
                while await conn.scalar(  # noqa: ASYNC110 (the server offers nothing to wait on)
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ):
                    await asyncio.sleep(0.01)
        # The pool still holds the dead connection; the ping on checkout replaces it.
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await admin.dispose()
        await engine.dispose()
