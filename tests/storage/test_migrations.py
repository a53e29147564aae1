"""Alembic migrations on both databases, and that they agree with the ORM mappings."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from secgate.storage.db import create_engine
from secgate.storage.migrate import alembic_config, downgrade, upgrade
from secgate.storage.models import Base

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}


def _inspect(url: str, look: Any) -> Any:
    """Run `look(sync_connection)` on the database at `url` and return its result."""

    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_upgrade_on_an_empty_database_creates_every_table(empty_database_url: str) -> None:
    assert _inspect(empty_database_url, _tables) == set()

    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _tables) == APP_TABLES | {"alembic_version"}
    assert _inspect(empty_database_url, _revision) == _head(empty_database_url)


def test_upgrade_twice_changes_nothing(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _revision) == _head(empty_database_url)
    assert _inspect(empty_database_url, _differences) == []


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url)

    downgrade(empty_database_url, "base")
    assert _inspect(empty_database_url, _tables) <= {"alembic_version"}
    assert _inspect(empty_database_url, _revision) is None

    upgrade(empty_database_url)
    assert _inspect(empty_database_url, _tables) == APP_TABLES | {"alembic_version"}
    assert _inspect(empty_database_url, _differences) == []


def test_migrated_schema_matches_the_orm_mappings(empty_database_url: str) -> None:
    # Autogenerate finding nothing to do means models.py and the migrations agree:
    # a column added to one and not the other fails here.
    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _differences) == []


def test_comparison_does_notice_a_schema_that_drifted(empty_database_url: str) -> None:
    # Guards the test above against comparing nothing at all.
    upgrade(empty_database_url)

    async def drop_column() -> None:
        engine = create_engine(empty_database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE api_tokens DROP COLUMN revoked_at"))
        finally:
            await engine.dispose()

    asyncio.run(drop_column())

    differences = _inspect(empty_database_url, _differences)
    assert [(d[0], d[2], d[3].name) for d in differences] == [
        ("add_column", "api_tokens", "revoked_at")
    ]
