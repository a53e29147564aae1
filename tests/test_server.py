"""`python server.py`: serves where it is told to, and stops gracefully.

The process tests run the real entry point; the in-flight test runs the app in this
process with the server options `secgate.serve` uses, to hold a request open at will.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from secgate.app import create_app
from secgate.serve import runner_options
from secgate.settings import Settings

REPO = Path(__file__).resolve().parents[1]
GEOIP_TEST_DB = REPO.parent / "shared" / "fixtures" / "geoip" / "GeoIP2-City-Test.mmdb"
STARTUP_LIMIT_S = 30.0
EXIT_LIMIT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a gateway of its own: free port, private var/ and database."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SECGATE_")}
    return env | {
        "SECGATE_HOST": "127.0.0.1",
        "SECGATE_PORT": str(free_port()),
        "SECGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'secgate.db'}",
        "SECGATE_VAR_DIR": str(tmp_path / "var"),
        "SECGATE_GEOIP_DB": str(GEOIP_TEST_DB),
    }


@pytest.fixture
def server_env(bare_env: dict[str, str]) -> dict[str, str]:
    """As `bare_env`, with the database migrated as `make run` does."""
    done = _run([sys.executable, "-m", "secgate", "migrate"], bare_env)
    assert done.returncode == 0, done.stderr
    return bare_env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


class Gateway:
    """A `python server.py` process whose log goes to a file."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    async def wait_until_healthy(self, url: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            for _ in range(int(STARTUP_LIMIT_S / 0.1)):
                if self.process.returncode is not None:
                    pytest.fail(f"server.py exited early:\n{self.log_path.read_text()}")
                try:
                    async with session.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            body: dict[str, Any] = await resp.json()
                            return body
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"no healthy /healthz at {url}:\n{self.log_path.read_text()}")

    async def wait_for_exit(self) -> int:
        async with asyncio.timeout(EXIT_LIMIT_S):
            return await self.process.wait()


StartGateway = Callable[[dict[str, str]], Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    started: list[Gateway] = []

    async def start(env: dict[str, str]) -> Gateway:
        log_path = tmp_path / f"server-{len(started)}.log"
        with log_path.open("w") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "server.py", cwd=REPO, env=env, stdout=log_file, stderr=log_file
            )
        gateway = Gateway(process, log_path)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.process.returncode is None:
            gateway.process.kill()
            await gateway.process.wait()


@pytest.mark.slow
async def test_the_server_serves_on_secgate_host_and_port(
    server_env: dict[str, str], start_gateway: StartGateway
) -> None:
    # 127.0.0.2 is loopback too, but not where the server would listen by default.
    port = server_env["SECGATE_PORT"]
    gateway = await start_gateway(server_env | {"SECGATE_HOST": "127.0.0.2"})
    url = f"http://127.0.0.2:{port}"

    health = await gateway.wait_until_healthy(url)

    assert health == {"status": "ok", "checks": {"database": "ok", "hot_state": "ok"}}
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", int(port))
    assert any(line.get("url") == url for line in gateway.log_lines())


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_ends_the_server_with_exit_code_0(
    server_env: dict[str, str], start_gateway: StartGateway, signum: signal.Signals
) -> None:
    gateway = await start_gateway(server_env)
    await gateway.wait_until_healthy(f"http://127.0.0.1:{server_env['SECGATE_PORT']}")

    gateway.process.send_signal(signum)

    assert await gateway.wait_for_exit() == 0
    assert gateway.log_lines()[-1]["message"] == "stopped"


@pytest.mark.slow
def test_a_bad_setting_is_reported_in_one_line_with_exit_code_2(
    bare_env: dict[str, str],
) -> None:
    done = _run([sys.executable, "server.py"], bare_env | {"SECGATE_PORT": "eighty"})
    assert done.returncode == 2
    assert "SECGATE_PORT" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
async def test_a_port_in_use_is_reported_with_exit_code_1(
    bare_env: dict[str, str], start_gateway: StartGateway
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(bare_env["SECGATE_PORT"])))
        taken.listen()
        gateway = await start_gateway(bare_env)
        assert await gateway.wait_for_exit() == 1
    [error] = [line for line in gateway.log_lines() if line["level"] == "ERROR"]
    assert error["message"].startswith("cannot serve on http://127.0.0.1:")
    assert "Traceback" not in gateway.log_path.read_text()


# -- graceful shutdown, in this process -------------------------------------------------


class SlowApp:
    """The real app plus a route that takes `delay_s` to answer, recording the order in
    which the request finished and the stores closed."""

    def __init__(self, settings: Settings, delay_s: float) -> None:
        self.delay_s = delay_s
        self.entered = asyncio.Event()
        self.events: list[str] = []
        self.app = create_app(settings)
        self.app.router.add_get("/test/slow", self._slow)
        # Cleanup contexts close in reverse order: this one closes before the stores.
        self.app.cleanup_ctx.append(self._closing)
        self.runner = web.AppRunner(self.app, **runner_options(settings))
        self.port = 0

    async def _slow(self, _request: web.Request) -> web.Response:
        self.entered.set()
        await asyncio.sleep(self.delay_s)
        self.events.append("answered")
        return web.Response(text="slow but complete " + "x" * 100_000)

    async def _closing(self, _app: web.Application) -> AsyncIterator[None]:
        yield
        self.events.append("closing stores")

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def fetch_slow(self) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/test/slow") as resp,
        ):
            return resp.status, await resp.text()


async def test_shutdown_lets_a_request_in_flight_finish_before_closing_the_stores(
    make_settings: Callable[..., Settings],
) -> None:
    server = SlowApp(make_settings(shutdown_timeout_s=30.0), delay_s=0.5)
    await server.start()
    request = asyncio.create_task(server.fetch_slow())
    await server.entered.wait()

    shutdown = asyncio.create_task(server.runner.cleanup())
    await asyncio.sleep(0.1)
    # No longer accepting: a new connection is refused while the request goes on.
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    await shutdown

    status, text = await request
    assert status == 200
    assert text == "slow but complete " + "x" * 100_000
    assert server.events == ["answered", "closing stores"]


async def test_a_request_outlasting_the_shutdown_timeout_is_cut_off(
    make_settings: Callable[..., Settings],
) -> None:
    server = SlowApp(make_settings(shutdown_timeout_s=0.1), delay_s=5.0)
    await server.start()
    request = asyncio.create_task(server.fetch_slow())
    await server.entered.wait()

    await server.runner.cleanup()

    with pytest.raises(aiohttp.ClientError):
        await request
    assert server.events == ["closing stores"]
