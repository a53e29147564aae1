"""`python -m secgate …` run for real, as a subprocess against each database."""

from __future__ import annotations

import re
from pathlib import Path

import argon2
import pytest
from command_line import Cli, Run, run_secgate
from sqlalchemy import func, inspect, select

from secgate.auth.tokens import hash_token
from secgate.storage.db import SessionFactory, create_engine
from secgate.storage.models import Account, ApiToken, Role, SenderId, TokenRole

ALICE = ["--username", "alice", "--mobile", "+965 5000 0000", "--country", "KW"]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run the command line on the database at `url`, from an empty working directory."""

    async def run(url: str, *args: str, stdin: str = "") -> Run:
        return await run_secgate(*args, database_url=url, cwd=tmp_path, stdin=stdin)

    return run


async def _accounts(db_sessions: SessionFactory) -> list[Account]:
    async with db_sessions() as session:
        return list(await session.scalars(select(Account).order_by(Account.id)))


async def _count(db_sessions: SessionFactory, model: type[object]) -> int:
    async with db_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


# --- migrate --------------------------------------------------------------------------------


async def test_migrate_creates_the_schema_in_a_new_sqlite_file(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'secgate.db'}"

    result = await cli(url, "migrate")

    assert result.code == 0, result.stderr
    assert {"accounts", "sender_ids", "api_tokens", "alerts", "alembic_version"} <= (
        await _table_names(url)
    )


async def test_migrate_on_an_up_to_date_database_succeeds_again(
    cli: Cli, database_url: str
) -> None:
    first = await cli(database_url, "migrate")
    second = await cli(database_url, "migrate")

    assert (first.code, second.code) == (0, 0)


# --- user create ----------------------------------------------------------------------------


async def test_user_create_prints_only_the_new_account_id(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(database_url, "user", "create", *ALICE, "--password", "correct horse")

    assert result.code == 0, result.stderr
    [account] = await _accounts(db_sessions)
    assert result.stdout == f"{account.id}\n"
    assert account.username == "alice"
    assert account.mobile == "96550000000"
    assert account.home_country == "KW"
    assert account.role is Role.CUSTOMER
    assert account.balance == 0
    argon2.PasswordHasher().verify(account.password_hash, "correct horse")


async def test_user_create_stores_role_and_balance(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(
        database_url,
        "user",
        "create",
        *ALICE,
        "--password",
        "correct horse",
        "--role",
        "staff",
        "--balance",
        "250",
    )

    assert result.code == 0, result.stderr
    [account] = await _accounts(db_sessions)
    assert (account.role, account.balance) == (Role.STAFF, 250)


async def test_user_create_reads_the_password_from_stdin(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(
        database_url, "user", "create", *ALICE, "--password-stdin", stdin="pass phrase 1\n"
    )

    assert result.code == 0, result.stderr
    [account] = await _accounts(db_sessions)
    argon2.PasswordHasher().verify(account.password_hash, "pass phrase 1")


async def test_user_create_with_an_empty_stdin_fails(cli: Cli, tmp_path: Path) -> None:
    # Refused before the database is touched, so any URL serves.
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"

    result = await cli(url, "user", "create", *ALICE, "--password-stdin", stdin="")

    assert result.code == 1
    assert "nothing on standard input" in result.stderr


async def test_user_create_takes_one_password_source_only(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"

    both = await cli(url, "user", "create", *ALICE, "--password", "x" * 8, "--password-stdin")
    neither = await cli(url, "user", "create", *ALICE)

    assert (both.code, neither.code) == (2, 2)
    assert "not allowed with argument" in both.stderr
    assert "--password" in neither.stderr


async def test_user_create_for_a_taken_username_fails(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    await cli(database_url, "user", "create", *ALICE, "--password", "correct horse")

    result = await cli(
        database_url,
        "user",
        "create",
        "--username",
        "ALICE",
        "--password",
        "correct horse",
        "--mobile",
        "96550000001",
        "--country",
        "KW",
    )

    assert result.code == 1
    assert result.stdout == ""
    assert "already exists" in result.stderr
    assert len(await _accounts(db_sessions)) == 1


async def test_user_create_with_a_landline_fails(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(
        database_url,
        "user",
        "create",
        "--username",
        "alice",
        "--password",
        "correct horse",
        "--mobile",
        "+965 2234 5678",
        "--country",
        "KW",
    )

    assert result.code == 1
    assert "mobile: not a mobile number" in result.stderr
    assert await _accounts(db_sessions) == []


async def test_user_create_with_an_unknown_role_fails(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"

    result = await cli(
        url, "user", "create", *ALICE, "--password", "correct horse", "--role", "admin"
    )

    assert result.code == 2
    assert "invalid choice: 'admin'" in result.stderr


async def test_user_create_with_a_negative_balance_fails(cli: Cli, database_url: str) -> None:
    result = await cli(
        database_url, "user", "create", *ALICE, "--password", "correct horse", "--balance", "-1"
    )

    assert result.code == 1
    assert "balance:" in result.stderr


# --- sender add -----------------------------------------------------------------------------


async def test_sender_add_registers_the_sender_id(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    created = await cli(database_url, "user", "create", *ALICE, "--password", "correct horse")

    result = await cli(database_url, "sender", "add", "--username", "Alice", "--sender", "KWT-SMS")

    assert result.code == 0, result.stderr
    async with db_sessions() as session:
        sender = await session.scalar(select(SenderId))
        assert sender is not None
        assert (sender.account_id, sender.name) == (int(created.stdout), "KWT-SMS")


async def test_sender_add_for_an_unknown_user_fails(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(database_url, "sender", "add", "--username", "nobody", "--sender", "SHOP")

    assert result.code == 1
    assert "no account named 'nobody'" in result.stderr
    assert await _count(db_sessions, SenderId) == 0


async def _sender_kinds(db_sessions: SessionFactory) -> dict[str, bool]:
    async with db_sessions() as session:
        return {s.name: s.transactional for s in await session.scalars(select(SenderId))}


async def test_sender_add_registers_a_transactional_sender_id_only_when_asked(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    await cli(database_url, "user", "create", *ALICE, "--password", "correct horse")
    add = ("sender", "add", "--username", "alice", "--sender")

    bank = await cli(database_url, *add, "KFH", "--transactional")
    shop = await cli(database_url, *add, "MyShop")

    assert (bank.code, bank.stdout, shop.code, shop.stdout) == (0, "", 0, ""), bank.stderr
    assert await _sender_kinds(db_sessions) == {"KFH": True, "MyShop": False}


async def test_sender_add_again_sets_the_kind_asked_and_says_so(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    await cli(database_url, "user", "create", *ALICE, "--password", "correct horse")
    add = ("sender", "add", "--username", "alice", "--sender", "KFH")
    await cli(database_url, *add)
    said = "sender ID 'KFH' is already registered to 'alice': "

    promoted = await cli(database_url, *add, "--transactional")
    assert (promoted.code, promoted.stdout) == (0, said + "now transactional\n"), promoted.stderr
    assert await _sender_kinds(db_sessions) == {"KFH": True}

    again = await cli(database_url, *add, "--transactional")
    assert (again.code, again.stdout) == (0, said + "transactional, unchanged\n")
    assert await _sender_kinds(db_sessions) == {"KFH": True}

    demoted = await cli(database_url, *add)
    assert (demoted.code, demoted.stdout) == (0, said + "now not transactional\n")
    assert await _sender_kinds(db_sessions) == {"KFH": False}


# --- token create ---------------------------------------------------------------------------


async def test_token_create_prints_a_token_stored_only_as_its_hash(
    cli: Cli, database_url: str, db_sessions: SessionFactory
) -> None:
    result = await cli(database_url, "token", "create", "--role", "pipeline", "--name", "sms-out")

    assert result.code == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert re.fullmatch(r"sgt_[A-Za-z0-9_-]{43}", token)
    async with db_sessions() as session:
        [row] = list(await session.scalars(select(ApiToken)))
    assert row.token_hash == hash_token(token)
    assert (row.role, row.name) == (TokenRole.PIPELINE, "sms-out")


async def test_token_create_with_an_unknown_role_fails(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"

    result = await cli(url, "token", "create", "--role", "customer")

    assert result.code == 2
    assert "invalid choice: 'customer'" in result.stderr


# --- failures of the database itself --------------------------------------------------------


async def test_command_on_an_unmigrated_database_says_to_run_migrate(
    cli: Cli, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"

    result = await cli(url, "user", "create", *ALICE, "--password", "correct horse")

    assert result.code == 1
    assert "run `python -m secgate migrate` first" in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["token", "create", "--role", "staff"]])
async def test_unreachable_database_is_reported_without_its_password(
    cli: Cli, command: list[str]
) -> None:
    # Port 1 on the loopback: nothing listens there, so the connection is refused.
    url = "postgresql+asyncpg://secgate:s3cret@127.0.0.1:1/secgate"

    result = await cli(url, *command)

    assert result.code == 1
    assert "cannot use the database postgresql+asyncpg://secgate:***@127.0.0.1:1/secgate" in (
        result.stderr
    )
    assert "s3cret" not in result.stderr


async def test_bad_setting_is_reported(cli: Cli, tmp_path: Path) -> None:
    result = await cli("not a url", "migrate")

    assert result.code == 1
    assert "SECGATE_DATABASE_URL" in result.stderr
