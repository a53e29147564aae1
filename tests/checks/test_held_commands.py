"""`python -m secgate held list|show|release|reject`, run for real as a subprocess."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass

import pytest
from command_line import Cli
from customer_accounts import register_account
from sqlalchemy import select

from secgate.checks.pipeline import Pipeline
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, held, passed
from secgate.hotstate.memory import MemoryHotState
from secgate.settings import Settings
from secgate.sms.send import SendAccepted, SendRequest, SmsService
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, ContentView, Message, MessageStatus


@dataclass
class HoldsAll:
    name: str = "hold_all"
    fails: FailMode = "closed"

    async def check(self, m: MessageUnderCheck) -> CheckResult:
        return held(self.name, "held for the test") if m.text else passed(self.name)


@pytest.fixture
async def msg_id(db_sessions: SessionFactory, memory_hot: MemoryHotState) -> str:
    """A held message of 2 points, from an account with 100."""
    account_id = await register_account(db_sessions, "shop", balance=100, senders=["MyShop"])
    service = SmsService(db_sessions, memory_hot, Settings(), pipeline=Pipeline([HoldsAll()]))
    outcome = await service.send(
        SendRequest(account_id, "MyShop", ["96550000001", "96560000002"], "hi", False, None)
    )
    assert isinstance(outcome, SendAccepted)
    return outcome.msg_id


async def test_list_prints_each_held_message_and_logs_the_look(
    cli: Cli, msg_id: str, db_sessions: SessionFactory
) -> None:
    result = await cli("held", "list")
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
    result = await cli("held", "reject", "--msg-id", msg_id, "--note", "spam")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "msg_id": msg_id,
        "decision": "rejected",
        "recipients": 2,
        "points_refunded": 2,
        "balance_after": 100,
    }
    again = await cli("held", "reject", "--msg-id", msg_id)
    assert again.code == 1
    assert "is waiting for review" in again.stderr


async def test_release_accepts_the_message(
    cli: Cli, msg_id: str, db_sessions: SessionFactory
) -> None:
    result = await cli("held", "release", "--msg-id", msg_id)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["decision"] == "released"
    async with db_sessions() as session:
        status = await session.scalar(select(Message.status))
        balance = await session.scalar(select(Account.balance))
    assert (status, balance) == (MessageStatus.ACCEPTED, 98)


async def test_show_of_an_unknown_msg_id_fails_with_a_reason(cli: Cli) -> None:
    result = await cli("held", "show", "--msg-id", "f" * 32)
    assert result.code == 1
    assert result.stderr.startswith("secgate: error: no held message with msg-id")
