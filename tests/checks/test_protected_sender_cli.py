"""`python -m secgate protected-sender add|remove|list` and the refusal of look-alikes
by `sender add`, run for real as subprocesses against each database."""

from __future__ import annotations

import pytest
from command_line import Cli
from customer_accounts import bare_account
from sqlalchemy import select

from secgate.storage.db import SessionFactory
from secgate.storage.models import SenderId


@pytest.fixture
async def accounts(db_sessions: SessionFactory) -> None:
    async with db_sessions.begin() as session:
        session.add_all([bare_account("nbk-bank"), bare_account("shop")])


async def test_add_list_and_remove(cli: Cli, accounts: None) -> None:
    added = await cli("protected-sender", "add", "--name", "nbk", "--owner", "nbk-bank")
    assert (added.code, added.stdout) == (0, "NBK\tnbk-bank\n")
    assert "within 30 s" in added.stderr
    assert (await cli("protected-sender", "add", "--name", "KFH")).code == 0
    more = await cli("protected-sender", "add", "--name", "NBK", "--owner", "shop")
    assert more.stdout == "NBK\tnbk-bank,shop\n"

    listed = await cli("protected-sender", "list")
    assert (listed.code, listed.stdout) == (0, "KFH\t\nNBK\tnbk-bank,shop\n")

    one_less = await cli("protected-sender", "remove", "--name", "NBK", "--owner", "shop")
    assert (one_less.code, one_less.stdout) == (0, "NBK\tnbk-bank\n")
    removed = await cli("protected-sender", "remove", "--name", "nbk")
    assert (removed.code, removed.stdout) == (0, "")
    assert (await cli("protected-sender", "list")).stdout == "KFH\t\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--name", "N.B.K"], "name: 2 to 11 letters A-Z and digits"),
        (["add", "--name", "NBK", "--owner", "nobody"], "no account named 'nobody'"),
        (["remove", "--name", "ZAIN"], "'ZAIN' is not a protected sender name"),
        (["remove", "--name", "KFH", "--owner", "shop"], "'shop' is not an owner of KFH"),
    ],
)
async def test_a_command_that_cannot_be_done_says_why(
    cli: Cli, accounts: None, args: list[str], message: str
) -> None:
    await cli("protected-sender", "add", "--name", "KFH")
    result = await cli("protected-sender", *args)
    assert result.code == 1
    assert result.stderr.startswith("secgate: error: ")
    assert message in result.stderr


async def test_sender_add_refuses_a_look_alike_of_a_name_the_account_does_not_own(
    cli: Cli, accounts: None, db_sessions: SessionFactory
) -> None:
    await cli("protected-sender", "add", "--name", "NBK", "--owner", "nbk-bank")

    refused = await cli("sender", "add", "--username", "shop", "--sender", "N8K")
    owned = await cli("sender", "add", "--username", "nbk-bank", "--sender", "N8K")

    assert refused.code == 1
    assert "Sender ID 'N8K' looks like NBK: digits or symbols for letters" in refused.stderr
    assert owned.code == 0
    async with db_sessions() as session:
        assert list(await session.scalars(select(SenderId.name))) == ["N8K"]


async def test_sender_add_uses_the_thresholds_of_the_settings(cli: Cli, accounts: None) -> None:
    await cli("protected-sender", "add", "--name", "OOREDOO")
    off = {"SECGATE_SENDER_GUARD_MAX_EDITS": "0"}
    assert (
        await cli("sender", "add", "--username", "shop", "--sender", "OOREDO", env=off)
    ).code == 0
    assert (await cli("sender", "add", "--username", "shop", "--sender", "OORED0")).code == 1
