"""`python -m secgate …` run for real, as a subprocess, for the tests of the commands."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Awaitable[Run]]


async def run_secgate(
    *args: str,
    database_url: str,
    cwd: Path,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run `python -m secgate ARGS` in `cwd` (its var/ dir under it) on the database at
    `database_url`; `stdin` is all it reads. A traceback fails the test: every failure
    of a command must be a message."""
    environment = {
        **os.environ,
        "SECGATE_DATABASE_URL": database_url,
        "SECGATE_VAR_DIR": str(cwd / "var"),
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "secgate",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        cwd=cwd,
    )
    out, err = await process.communicate(stdin.encode())
    assert process.returncode is not None
    result = Run(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in result.stderr
    return result
