"""Runs tests/sms/connectors/smpp_server.py as a real process and collects what it
reports, so tests can start, kill, pause and restart the SMSC their connector talks to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVER_SCRIPT = Path(__file__).with_name("smpp_server.py")
SYSTEM_ID = "secgate"
PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmscProcess:
    """One SMSC on a fixed port; `events` keeps what every run of it printed."""

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.options = options
        self.events: list[dict[str, Any]] = []
        self._new_event = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--system-id",
            SYSTEM_ID,
            "--password",
            PASSWORD,
            *self.options,
            stdout=asyncio.subprocess.PIPE,
        )
        listening = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_events(self._process, listening))
        async with asyncio.timeout(10):
            await listening

    async def kill(self) -> None:
        """SIGKILL: the SMSC vanishes without an unbind, as in a crash."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def pause(self) -> None:
        """SIGSTOP: the SMSC stays connected but answers nothing (a hung peer)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]

    async def wait_for(
        self, predicate: Callable[[SmscProcess], bool], timeout_s: float = 5.0
    ) -> None:
        async with asyncio.timeout(timeout_s), self._new_event:
            await self._new_event.wait_for(lambda: predicate(self))

    async def _read_events(
        self, process: asyncio.subprocess.Process, listening: asyncio.Future[None]
    ) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            event = json.loads(line)
            async with self._new_event:
                self.events.append(event)
                self._new_event.notify_all()
            if event["event"] == "listening" and not listening.done():
                listening.set_result(None)
        if not listening.done():
            listening.set_exception(RuntimeError("the SMSC simulator exited before listening"))
