"""`GET /healthz`: 200 when both stores answer, 503 naming each one that does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient
from json_logs import captured_json_logs

from secgate.app import create_app
from secgate.ops.health import HealthProbe
from secgate.settings import Settings

# Port 1 on loopback: nothing listens there, so connecting is refused at once.
DEAD_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


async def healthz(client: TestClient) -> tuple[int, dict[str, object]]:
    resp = await client.get("/healthz")
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


async def test_healthy_when_both_stores_answer(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    database_url: str,
    hot_state_url: str | None,
) -> None:
    settings = make_settings(database_url=database_url, redis_url=hot_state_url)
    client = await aiohttp_client(create_app(settings))
    assert await healthz(client) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "hot_state": "ok"}},
    )


async def test_a_database_that_refuses_connections_is_named(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    hot_state_url: str | None,
) -> None:
    settings = make_settings(database_url=DEAD_DATABASE_URL, redis_url=hot_state_url)
    client = await aiohttp_client(create_app(settings))
    assert await healthz(client) == (
        503,
        {"status": "unavailable", "checks": {"database": "unavailable", "hot_state": "ok"}},
    )


async def test_a_redis_that_refuses_connections_is_named(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    database_url: str,
) -> None:
    settings = make_settings(database_url=database_url, redis_url=DEAD_REDIS_URL)
    client = await aiohttp_client(create_app(settings))
    assert await healthz(client) == (
        503,
        {"status": "unavailable", "checks": {"database": "ok", "hot_state": "unavailable"}},
    )


async def test_both_stores_down_are_both_named(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(database_url=DEAD_DATABASE_URL, redis_url=DEAD_REDIS_URL)
    client = await aiohttp_client(create_app(settings))
    status, body = await healthz(client)
    assert status == 503
    assert body["checks"] == {"database": "unavailable", "hot_state": "unavailable"}


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_hung_stores_are_reported_unavailable_after_the_timeout(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    silent_port: int,
) -> None:
    settings = make_settings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/x",
        redis_url=f"redis://127.0.0.1:{silent_port}/0",
        health_check_timeout_s=0.2,
    )
    client = await aiohttp_client(create_app(settings))
    status, body = await healthz(client)
    assert status == 503
    assert body["checks"] == {"database": "unavailable", "hot_state": "unavailable"}


async def test_the_reason_of_a_failure_goes_to_the_log_not_the_answer(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    with captured_json_logs("secgate.ops.health") as lines:
        settings = make_settings(redis_url=DEAD_REDIS_URL)
        client = await aiohttp_client(create_app(settings))
        resp = await client.get("/healthz")
    [line] = lines()
    assert line["store"] == "hot_state"
    assert "HotStateUnavailable" in line["error"]
    assert line["request_id"] == resp.headers["X-Request-ID"]
    assert "HotStateUnavailable" not in await resp.text()


class TestHealthProbe:
    """A verdict is reused for `cache_s`; callers arriving during a check share it."""

    @staticmethod
    def counting_check() -> tuple[list[int], Callable[[], object]]:
        calls: list[int] = []

        async def check() -> dict[str, str]:
            calls.append(1)
            await asyncio.sleep(0.01)
            return {"database": "ok", "hot_state": "ok"}

        return calls, check

    async def test_verdict_is_reused_until_cache_s_has_passed(self) -> None:

        now = [100.0]
        calls, check = self.counting_check()
        probe = HealthProbe(check, cache_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
        await probe.verdicts()
        now[0] = 100.999
        await probe.verdicts()
        assert len(calls) == 1
        now[0] = 101.0
        await probe.verdicts()
        assert len(calls) == 2

    async def test_concurrent_callers_share_one_check(self) -> None:

        calls, check = self.counting_check()
        probe = HealthProbe(check, cache_s=0.0)  # type: ignore[arg-type]
        results = await asyncio.gather(*(probe.verdicts() for _ in range(50)))
        assert len(calls) == 1
        assert all(r == {"database": "ok", "hot_state": "ok"} for r in results)

    async def test_cache_zero_checks_every_time(self) -> None:

        calls, check = self.counting_check()
        probe = HealthProbe(check, cache_s=0.0)  # type: ignore[arg-type]
        await probe.verdicts()
        await probe.verdicts()
        assert len(calls) == 2
