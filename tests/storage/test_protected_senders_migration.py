"""Migration 0003 (protected sender names) up and down on both databases, and the
names it seeds."""

from __future__ import annotations

import asyncio
import importlib.util
from types import ModuleType

import pytest
from sqlalchemy import inspect, text

from secgate.checks.sender_ids import LookAlikeRules, ProtectedName, SenderMatcher
from secgate.storage.db import create_engine
from secgate.storage.migrate import MIGRATIONS_DIR, downgrade, upgrade

TABLES = {"protected_senders", "protected_sender_owners"}


def _migration() -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / "0003_protected_senders.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SEED_NAMES: tuple[str, ...] = _migration().SEED_NAMES


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _seeded(url: str) -> list[str]:
    return [str(row[0]) for row in _query(url, "SELECT name FROM protected_senders ORDER BY name")]


def test_upgrade_creates_the_tables_and_seeds_the_names(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0003")

    assert _tables(empty_database_url) >= TABLES
    assert _seeded(empty_database_url) == sorted(SEED_NAMES)
    assert _query(empty_database_url, "SELECT count(*) FROM protected_sender_owners") == [(0,)]


def test_downgrade_removes_the_tables_and_upgrade_seeds_again(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0003")
    before = _tables(empty_database_url)

    downgrade(empty_database_url, "0002")
    assert _tables(empty_database_url) == before - TABLES
    assert _query(empty_database_url, "SELECT version_num FROM alembic_version") == [("0002",)]

    upgrade(empty_database_url, "0003")
    assert _tables(empty_database_url) == before
    assert _seeded(empty_database_url) == sorted(SEED_NAMES)


def test_the_seed_has_the_names_the_issue_lists() -> None:
    listed = """ZAIN OOREDOO STC VIVA KFH NBK GBK CBK BOUBYAN WARBA KIB ABK BURGAN
    KNET""".split()  # noqa: SIM905
    assert set(listed) <= set(SEED_NAMES)
    assert len(set(SEED_NAMES)) == len(SEED_NAMES)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_each_seeded_name_is_stored_as_the_guard_compares_and_resembles_only_itself(
    name: str,
) -> None:
    # Otherwise the owner of one seeded name could not use it without owning another.
    assert name.isalnum() and name.isupper() and len(name) <= 11
    matcher = SenderMatcher(
        [ProtectedName(other) for other in SEED_NAMES], LookAlikeRules.from_settings()
    )
    assert [m.protected for m in matcher.matches(name)] == [name]
