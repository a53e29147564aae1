"""The messaging commands of `python -m secgate`, run for real as a subprocess:
`account countries`, `webhook set|clear`, `contacts import`, on the account of
"alice" (`account_id`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from command_line import Cli
from sqlalchemy import select

from secgate.sms.webhooks import webhook_secret
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, Contact

SECRET_KEY = "cli-test-secret-key-" + "k" * 32
# A public address: a URL with a name would make the command ask the DNS.
WEBHOOK_URL = "https://93.184.216.34/dlr"


async def stored_account(db_sessions: SessionFactory, account_id: int) -> Account:
    async with db_sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
        return account


# -- account countries -------------------------------------------------------------------


async def test_account_countries_set_replaces_the_list_and_prints_it(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli("account", "countries", "--username", "alice", "--set", "kw, sa,KW")

    assert result.code == 0, result.stderr
    assert result.stdout == "KW,SA\n"
    assert (await stored_account(db_sessions, account_id)).activated_countries == ["KW", "SA"]


async def test_account_countries_without_set_prints_the_list(cli: Cli, account_id: int) -> None:
    result = await cli("account", "countries", "--username", "alice")

    assert (result.code, result.stdout) == (0, "KW\n")


async def test_account_countries_refuses_an_unknown_code_and_changes_nothing(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli("account", "countries", "--username", "alice", "--set", "KW,XX")

    assert result.code == 1
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in result.stderr
    assert (await stored_account(db_sessions, account_id)).activated_countries == ["KW"]


# -- webhook -------------------------------------------------------------------------------


async def test_webhook_set_stores_the_url_and_prints_the_signing_secret(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli(
        "webhook",
        "set",
        "--username",
        "alice",
        "--url",
        WEBHOOK_URL,
        env={"SECGATE_SECRET_KEY": SECRET_KEY},
    )

    assert result.code == 0, result.stderr
    assert result.stdout == webhook_secret(SECRET_KEY, account_id) + "\n"
    account = await stored_account(db_sessions, account_id)
    assert account.dlr_webhook_url == WEBHOOK_URL


async def test_webhook_set_signs_with_the_key_the_server_keeps_under_var(
    cli: Cli, account_id: int, tmp_path: Path
) -> None:
    result = await cli("webhook", "set", "--username", "alice", "--url", WEBHOOK_URL)

    key = (tmp_path / "var" / "secret_key").read_text().strip()
    assert result.stdout == webhook_secret(key, account_id) + "\n"


async def test_webhook_set_refuses_a_url_that_is_not_http(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli("webhook", "set", "--username", "alice", "--url", "ftp://example.com/")

    assert result.code == 1
    assert "url: must be an absolute http:// or https:// URL" in result.stderr
    assert result.stdout == ""
    assert (await stored_account(db_sessions, account_id)).dlr_webhook_url is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://127.0.0.1:6379/", "127.0.0.1 is loopback"),
        ("http://[::ffff:10.0.0.1]/", "an IPv6 form of 10.0.0.1, private (RFC 1918)"),
        ("http://localhost/dlr", "localhost is loopback"),
    ],
)
async def test_webhook_set_refuses_an_internal_destination(
    cli: Cli, db_sessions: SessionFactory, account_id: int, url: str, reason: str
) -> None:
    result = await cli("webhook", "set", "--username", "alice", "--url", url)

    assert result.code == 1
    assert "url: webhooks go to public addresses only" in result.stderr
    assert reason in result.stderr
    assert result.stdout == ""
    assert (await stored_account(db_sessions, account_id)).dlr_webhook_url is None


async def test_webhook_set_takes_an_internal_address_in_an_allowed_network(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli(
        "webhook",
        "set",
        "--username",
        "alice",
        "--url",
        "http://10.20.0.5:8080/dlr",
        env={"SECGATE_WEBHOOK_ALLOWED_NETWORKS": "10.20.0.0/16"},
    )

    assert result.code == 0, result.stderr
    account = await stored_account(db_sessions, account_id)
    assert account.dlr_webhook_url == "http://10.20.0.5:8080/dlr"


async def test_webhook_set_refuses_credentials_in_the_url(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    result = await cli(
        "webhook", "set", "--username", "alice", "--url", "https://u:p@93.184.216.34/dlr"
    )

    assert result.code == 1
    assert "url: may not hold credentials" in result.stderr
    assert (await stored_account(db_sessions, account_id)).dlr_webhook_url is None


async def test_webhook_clear_stops_the_reports(
    cli: Cli, db_sessions: SessionFactory, account_id: int
) -> None:
    await cli("webhook", "set", "--username", "alice", "--url", WEBHOOK_URL)

    result = await cli("webhook", "clear", "--username", "alice")

    assert result.code == 0, result.stderr
    assert (await stored_account(db_sessions, account_id)).dlr_webhook_url is None


# -- contacts import -----------------------------------------------------------------------


async def test_contacts_import_prints_the_summary_and_every_refused_row(
    cli: Cli, db_sessions: SessionFactory, account_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        "\ufeffname,number\r\nAli,+965 5000 0001\r\nBad,12\r\nAli,٩٦٥٥٠٠٠٠٠٠١\r\n".encode()
    )

    result = await cli(
        "contacts", "import", "--username", "alice", "--group", "vip", "--file", str(path)
    )

    assert result.code == 0, result.stderr
    assert result.stdout == (
        "group vip: 1 added, 1 duplicates, 1 rejected\n"
        "line 3: invalid number: not a phone number: Bad,12\n"
    )
    async with db_sessions() as session:
        assert list(await session.scalars(select(Contact.number))) == ["96550000001"]


async def test_contacts_import_reads_standard_input(cli: Cli, account_id: int) -> None:
    result = await cli(
        "contacts",
        "import",
        "--username",
        "alice",
        "--group",
        "vip",
        "--file",
        "-",
        stdin="96550000001\n96550000002\n",
    )

    assert result.code == 0, result.stderr
    assert result.stdout == "group vip: 2 added, 0 duplicates, 0 rejected\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "nobody", "--group", "vip", "--file", "-"], "no account named 'nobody'"),
        (["--username", "alice", "--group", "a/b", "--file", "-"], "cannot hold '/'"),
        (["--username", "alice", "--group", "vip", "--file", "missing.csv"], "cannot read"),
    ],
)
async def test_contacts_import_that_cannot_run_says_why(
    cli: Cli, account_id: int, args: list[str], message: str
) -> None:
    result = await cli("contacts", "import", *args, stdin="96550000001\n")

    assert result.code == 1
    assert message in result.stderr
    assert result.stdout == ""
