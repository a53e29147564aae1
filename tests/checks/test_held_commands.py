"""`python -m secgate held list|show|release|reject`, run for real as a subprocess."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from secgate.accounts.registry import add_sender_id, create_account
from secgate.auth.passwords import PasswordHasher
from secgate.checks.pipeline import Pipeline
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, held, passed
from secgate.hotstate.memory import MemoryHotState
from secgate.settings import Settings
from secgate.sms.send import SendAccepted, SendRequest, SmsService
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, ContentView, Message, MessageStatus


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Awaitable[Run]]


@dataclass
class HoldsAll:
    name: str = "hold_all"
    fails: FailMode = "closed"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        return held(self.name, "held for the test") if m.text else passed(self.name)


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    async def run(*args: str) -> Run:
        environment = {
            **os.environ,
            "SECGATE_DATABASE_URL": database_url,
            "SECGATE_VAR_DIR": str(tmp_path / "var"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "secgate",
            "held",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            cwd=tmp_path,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        result = Run(process.returncode, out.decode(), err.decode())
        assert "Traceback" not in result.stderr
        return result

    return run


@pytest.fixture
async def msg_id(db_sessions: SessionFactory) -> str:
    """A held message of 2 points, from an account with 100."""
    hasher = PasswordHasher(
        Settings(argon2_time_cost=1, argon2_memory_kib=256, argon2_parallelism=1)
    )
    async with db_sessions() as session:
        account = await create_account(
            session,
            hasher,
            username="shop",
            password="correct horse",
            mobile="96550000000",
            country="KW",
            balance=100,
        )
        await add_sender_id(session, username="shop", sender="MyShop")
        await session.commit()
        account_id = account.id
    hot = MemoryHotState()
    try:
        service = SmsService(db_sessions, hot, Settings(), pipeline=Pipeline([HoldsAll()]))
        outcome = await service.send(
            SendRequest(account_id, "MyShop", ["96550000001", "96560000002"], "hi", False, None)
        )
    finally:
        await hot.close()
    assert isinstance(outcome, SendAccepted)
    return outcome.msg_id


async def test_list_prints_each_held_message_and_logs_the_look(
    cli: Cli, msg_id: str, db_sessions: SessionFactory
) -> None:
    result = await cli("list")
    assert result.code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    shown = json.loads(line)
    assert (shown["msg_id"], shown["text"], shown["account"]) == (msg_id, "hi", "shop")
    async with db_sessions() as session:
        views = (await session.execute(select(ContentView.viewer, ContentView.msg_id))).all()
    assert [tuple(v) for v in views] == [(f"cli:{getpass.getuser()}", msg_id)]


async def test_reject_refunds_and_prints_the_decision(
    cli: Cli, msg_id: str, db_sessions: SessionFactory
) -> None:
    result = await cli("reject", "--msg-id", msg_id, "--note", "spam")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "msg_id": msg_id,
        "decision": "rejected",
        "recipients": 2,
        "points_refunded": 2,
        "balance_after": 100,
    }
    again = await cli("reject", "--msg-id", msg_id)
    assert again.code == 1
    assert "is waiting for review" in again.stderr


async def test_release_accepts_the_message(
    cli: Cli, msg_id: str, db_sessions: SessionFactory
) -> None:
    result = await cli("release", "--msg-id", msg_id)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["decision"] == "released"
    async with db_sessions() as session:
        status = await session.scalar(select(Message.status))
        balance = await session.scalar(select(Account.balance))
    assert (status, balance) == (MessageStatus.ACCEPTED, 98)


async def test_show_of_an_unknown_msg_id_fails_with_a_reason(cli: Cli) -> None:
    result = await cli("show", "--msg-id", "f" * 32)
    assert result.code == 1
    assert result.stderr.startswith("secgate: error: no held message with msg-id")
