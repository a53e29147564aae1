"""The stores of one bench run: a PostgreSQL database and a Redis database of its own.

The database (`secgate_bench_<pid>`) is created on the PostgreSQL server of the admin
URL, migrated with Alembic and dropped at the end. The Redis database is the first of
15..1 that is empty and that this run could claim (a lock key set only if new, so two
runs at once never share one), and emptied at the end. Nothing else on either server
is touched.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from sqlalchemy import make_url, text

from secgate.storage.db import create_engine
from secgate.storage.migrate import upgrade

DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
REDIS_LOCK_KEY = "secgate-bench:owner"
# Longer than any run; a run that was killed frees its Redis database after this.
REDIS_LOCK_TTL_S = 3600
# Redis databases tried, highest first: low numbers are the ones people use by hand.
REDIS_DBS = range(15, 0, -1)


class StoreError(Exception):
    """A store the bench needs is missing or unusable; the message says which."""


@dataclass(frozen=True)
class BenchStores:
    database_url: str  # SQLAlchemy URL of the migrated bench database
    redis_url: str  # redis://host:port/db, the database claimed for this run
    database_name: str
    redis_db: int


@contextmanager
def bench_stores(pg_admin_url: str, redis_url: str) -> Iterator[BenchStores]:
    """A fresh migrated database and a claimed Redis database, removed afterwards."""
    name = f"secgate_bench_{os.getpid()}"
    database_url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        # A database of the same name is a leftover of a killed run with our pid.
        _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(pg_admin_url, f'CREATE DATABASE "{name}"')
    except OSError as exc:
        raise StoreError(f"PostgreSQL at {_redacted(pg_admin_url)} does not answer: {exc}") from exc
    # The database number is ours to choose: whatever the URL names is dropped.
    redis_server = urlsplit(redis_url)._replace(path="").geturl()
    try:
        upgrade(database_url)
        with _claimed_redis_db(redis_server) as db:
            yield BenchStores(database_url, f"{redis_server}/{db}", name, db)
    finally:
        _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(pg_admin_url: str, sql: str) -> None:
    async def run() -> None:
        engine = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextmanager
def _claimed_redis_db(redis_url: str) -> Iterator[int]:
    owner = f"pid {os.getpid()}"
    for db in REDIS_DBS:
        client = redis.Redis.from_url(redis_url, db=db, socket_timeout=5)
        try:
            claimed = client.set(REDIS_LOCK_KEY, owner, nx=True, ex=REDIS_LOCK_TTL_S)
            if claimed and client.dbsize() == 1:  # only our lock: nobody uses it
                break
            if claimed:
                client.delete(REDIS_LOCK_KEY)
        except redis.RedisError as exc:
            client.close()
            raise StoreError(f"Redis at {redis_url} does not answer: {exc}") from exc
        client.close()
    else:
        raise StoreError(f"Redis at {redis_url}: no empty database among {list(REDIS_DBS)}")
    try:
        yield db
    finally:
        # Everything in it is this run's (it was empty, and the lock kept others out).
        client.flushdb()
        client.close()


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
