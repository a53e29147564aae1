"""Shared fixtures: real backends for every test that needs a store, and what many
tests start from.

- `database_url`: each test that asks for it runs twice, on SQLite and on a real
  PostgreSQL (a database created for this test session, migrated with Alembic,
  emptied before each test). `empty_database_url`: the same two, without tables.
- `hot_state`: each test runs twice, in-process and on a real Redis (keys under a
  namespace of their own, removed afterwards); `memory_hot` is in-process only,
  `dead_hot` a Redis that does not answer.
- `make_account`, `account_id`: bare customer accounts (tests/customer_accounts.py).
- `client`, `staff`: the whole app over HTTP, and a staff token for it.
- `cli`: `python -m secgate` run as a subprocess on the test database.

The servers come from SECGATE_TEST_DATABASE_URL (an admin URL to a PostgreSQL that
may create databases) and SECGATE_TEST_REDIS_URL; `make test` starts them when they
are missing. A missing server is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from api_calls import ClientMaker, bearer
from command_line import Cli, Run, run_secgate
from customer_accounts import MakeAccount, add_account
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from secgate.app import create_app
from secgate.hotstate.memory import MemoryHotState
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.hotstate.redis import RedisHotState
from secgate.settings import Settings
from secgate.storage.db import SessionFactory, create_engine, session_factory
from secgate.storage.migrate import upgrade
from secgate.storage.models import Base, TokenRole

PG_ADMIN_URL = os.environ.get(
    "SECGATE_TEST_DATABASE_URL", "postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SECGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

SHARED = Path(__file__).resolve().parents[2] / "shared"
GEOIP_FIXTURES = SHARED / "fixtures" / "geoip"


async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def _new_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    with _new_postgres_database("secgate_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "secgate.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database; the test runs once on each backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    asyncio.run(_empty_tables(url))
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, for the migrations to start from: a new SQLite
    file, or a PostgreSQL database created for this test and dropped after."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    with _new_postgres_database("secgate_migration") as url:
        yield url


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = list(reversed(Base.metadata.sorted_tables))
            if conn.dialect.name == "postgresql":
                names = ", ".join(t.name for t in tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def db_sessions(db_engine: AsyncEngine) -> SessionFactory:
    return session_factory(db_engine)


@pytest.fixture(params=["memory", "redis"])
async def hot_state(request: pytest.FixtureRequest) -> AsyncIterator[HotState]:
    """An empty hot state; the test runs once in-process and once on a real Redis."""
    namespace = f"secgate-test-{uuid.uuid4().hex[:12]}"
    if request.param == "memory":
        memory = MemoryHotState(namespace=namespace, redelivery_after_s=0.3)
        yield memory
        await memory.close()
        return
    redis_state = RedisHotState.from_url(REDIS_URL, namespace=namespace, redelivery_after_s=0.3)
    try:
        await redis_state.ping()
        yield redis_state
    finally:
        await redis_state.delete_namespace()
        await redis_state.close()


@pytest.fixture
async def memory_hot() -> AsyncIterator[MemoryHotState]:
    """An in-process hot state, for tests where the hot state is not what they are about."""
    hot = MemoryHotState()
    yield hot
    await hot.close()


@pytest.fixture
async def dead_hot() -> AsyncIterator[HotState]:
    """A hot state on a Redis where nothing listens (port 1): every call fails, in 0.5 s
    at most."""
    dead = RedisHotState.from_url("redis://127.0.0.1:1/0", timeout_s=0.5)
    yield dead
    await dead.close()


@pytest.fixture(params=["memory", "redis"])
def hot_state_url(request: pytest.FixtureRequest) -> str | None:
    """SECGATE_REDIS_URL for an app under test: unset (in-process hot state) or the
    test Redis; the test runs once with each."""
    return None if request.param == "memory" else REDIS_URL


@pytest.fixture
def make_settings(tmp_path: Path) -> Iterator[Callable[..., Settings]]:
    """Settings for a test app: a private var/ dir, a fixed secret key and a Redis
    namespace of its own (its keys are removed afterwards)."""
    namespace = f"secgate-test-{uuid.uuid4().hex[:12]}"
    used_redis: set[str] = set()

    def make(**changes: object) -> Settings:
        base = Settings(
            var_dir=tmp_path / "var",
            secret_key="test-secret-key-" + "x" * 32,
            geoip_db=GEOIP_FIXTURES / "GeoIP2-City-Test.mmdb",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
            redis_namespace=namespace,
        )
        settings = replace(base, **changes)  # type: ignore[arg-type]
        if settings.redis_url:
            used_redis.add(settings.redis_url)
        return settings

    yield make
    for url in used_redis:
        asyncio.run(_delete_redis_namespace(url, namespace))


async def _delete_redis_namespace(url: str, namespace: str) -> None:
    state = RedisHotState.from_url(url, namespace=namespace)
    try:
        await state.delete_namespace()
    except HotStateUnavailable:
        pass  # a test that pointed at a dead Redis left nothing in it
    finally:
        await state.close()


# --- accounts --------------------------------------------------------------------------


@pytest.fixture
def make_account(db_sessions: SessionFactory) -> MakeAccount:
    """`make_account(username="alice", **columns)` stores a bare customer account (its
    password never used, so not hashed) and returns its id."""

    async def make(username: str = "alice", **columns: object) -> int:
        return await add_account(db_sessions, username, **columns)

    return make


@pytest.fixture
async def account_id(make_account: MakeAccount) -> int:
    """A bare customer account named "alice", in Kuwait."""
    return await make_account()


# --- the app over HTTP -----------------------------------------------------------------


@pytest.fixture
async def client(
    aiohttp_client: ClientMaker, make_settings: Callable[..., Settings], database_url: str
) -> TestClient:
    """A test client of the whole app, on the test database."""
    return await aiohttp_client(create_app(make_settings(database_url=database_url)))


@pytest.fixture
async def staff(db_sessions: SessionFactory) -> dict[str, str]:
    """The Authorization header of a staff token named "Sara"."""
    return await bearer(db_sessions, TokenRole.STAFF)


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    """`cli(*args, stdin="", env=None)` runs `python -m secgate ARGS` on the test database,
    from an empty working directory."""

    async def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Run:
        return await run_secgate(
            *args, database_url=database_url, cwd=tmp_path, stdin=stdin, env=env
        )

    return run
