"""Migration 0005 (transactional sender IDs) up and down on both databases: sender IDs
that exist are not transactional, nor is one written without saying."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, text

from secgate.storage.db import create_engine
from secgate.storage.migrate import downgrade, upgrade

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def _run(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


def _query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return asyncio.run(_run(url, sql, **params))


def _sender_id_columns(url: str) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                columns = await conn.run_sync(lambda sync: inspect(sync).get_columns("sender_ids"))
                return {column["name"]: column for column in columns}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _add_account_with_sender_id(url: str, sender: str) -> None:
    """An account and a sender ID as they stood before 0005, written in SQL."""
    _query(
        url,
        "INSERT INTO accounts (id, username, username_key, role, password_hash, mobile, "
        "home_country, balance, purchased, activated_countries, api_enabled, "
        "api_ip_allowlist, disabled, created_at) VALUES (1, 'alice', 'alice', 'customer', "
        "'unused', '96550000000', 'KW', 0, 0, '[\"KW\"]', :yes, '[]', :no, :now)",
        yes=True,
        no=False,
        now=NOW,
    )
    _query(
        url,
        "INSERT INTO sender_ids (account_id, name, created_at) VALUES (1, :name, :now)",
        name=sender,
        now=NOW,
    )


def _kinds(url: str) -> list[tuple[str, bool]]:
    rows = _query(url, "SELECT name, transactional FROM sender_ids ORDER BY name")
    return [(str(name), bool(transactional)) for name, transactional in rows]


def test_upgrade_makes_existing_sender_ids_not_transactional(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0004")
    _add_account_with_sender_id(empty_database_url, "KWT-SMS")

    upgrade(empty_database_url, "0005")

    assert _kinds(empty_database_url) == [("KWT-SMS", False)]
    assert _sender_id_columns(empty_database_url)["transactional"]["nullable"] is False


def test_a_sender_id_written_without_its_kind_is_not_transactional(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0005")
    _add_account_with_sender_id(empty_database_url, "SHOP")

    assert _kinds(empty_database_url) == [("SHOP", False)]


def test_downgrade_drops_the_column_and_keeps_the_sender_ids(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0005")
    _add_account_with_sender_id(empty_database_url, "SHOP")
    _query(empty_database_url, "UPDATE sender_ids SET transactional = :yes", yes=True)

    downgrade(empty_database_url, "0004")

    assert "transactional" not in _sender_id_columns(empty_database_url)
    assert _query(empty_database_url, "SELECT account_id, name FROM sender_ids") == [(1, "SHOP")]
    assert _query(empty_database_url, "SELECT version_num FROM alembic_version") == [("0004",)]
