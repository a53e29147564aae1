"""The command line: `python -m secgate COMMAND …` (CONTRACT §3).

Settings come from the environment (SECGATE_DATABASE_URL, …). A command that
fails says why on stderr, in one line, and exits 1 (2 for a malformed command
line); it never shows a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from secgate.accounts.registry import (
    AccountError,
    AccountNotFound,
    SenderIdRegistration,
    create_account,
    find_account,
    register_sender_id,
    set_activated_countries,
)
from secgate.auth.passwords import PasswordHasher
from secgate.auth.tokens import create_token
from secgate.checks import held_commands, held_messages, protected_senders
from secgate.checks.protected_senders import ProtectedSenderError
from secgate.checks.sender_ids import LookAlikeRules
from secgate.settings import Settings, SettingsError
from secgate.sms import contacts, webhooks
from secgate.spam_model import commands as spam_model_commands
from secgate.storage import migrate
from secgate.storage.db import create_engine, session_factory
from secgate.storage.models import Account, Role, TokenRole

PROG = "python -m secgate"


class CommandFailed(Exception):
    """Stops a command; the message is shown to the operator as it is."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], None] = args.run
    try:
        run(args, Settings.from_env())
    except (
        CommandFailed,
        AccountError,
        SettingsError,
        ProtectedSenderError,
        held_messages.HeldMessageError,
        spam_model_commands.CommandError,
    ) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:  # the operator gets one line, never a traceback
        return _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="SecGate administration. Settings come from the environment "
        "(SECGATE_DATABASE_URL, …).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    migrate_cmd = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_cmd.set_defaults(run=_migrate)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        title="user commands", metavar="COMMAND", required=True
    )
    user_create = user.add_parser(
        "create",
        help="create an account and print its id",
        description="Create an account and print its id.",
        epilog="--password puts the password in the shell history and the process list; "
        "--password-stdin reads it from the first line of standard input instead, "
        "e.g. `printf '%s\\n' \"$PW\" | python -m secgate user create --password-stdin …`.",
    )
    user_create.add_argument("--username", required=True)
    password = user_create.add_mutually_exclusive_group(required=True)
    password.add_argument("--password", help="the password (8 to 1024 characters)")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (safer than --password)",
    )
    user_create.add_argument(
        "--mobile", required=True, help="mobile number with country code, e.g. 96550000000"
    )
    user_create.add_argument(
        "--country", required=True, help="home country, ISO 3166-1 alpha-2, e.g. KW"
    )
    user_create.add_argument(
        "--role", choices=[role.value for role in Role], default=Role.CUSTOMER.value
    )
    user_create.add_argument("--balance", type=int, default=0, help="credits (default 0)")
    user_create.set_defaults(run=_user_create)

    sender = commands.add_parser("sender", help="manage sender IDs").add_subparsers(
        title="sender commands", metavar="COMMAND", required=True
    )
    sender_add = sender.add_parser(
        "add",
        help="register a sender ID to an account",
        description="Register a sender ID to an account; prints nothing. For a sender ID "
        "the account already has, sets its kind to what is asked (with --transactional or "
        "without) and prints one line saying so.",
    )
    sender_add.add_argument("--username", required=True)
    sender_add.add_argument("--sender", required=True, help="up to 11 letters, digits, space, .-")
    sender_add.add_argument(
        "--transactional",
        action="store_true",
        help="verified as used only for one-time codes and notices (bank, delivery, "
        "government, appointments): the spam check is more lenient with it",
    )
    sender_add.set_defaults(run=_sender_add)

    protected = commands.add_parser(
        "protected-sender",
        help="manage protected sender names (only their owners may use them or look-alikes)",
    ).add_subparsers(title="protected-sender commands", metavar="COMMAND", required=True)
    protected_add = protected.add_parser(
        "add",
        help="protect a name, or give a protected name more owners",
        description="Protect NAME (2 to 11 letters and digits): only its owners may use it, "
        "or anything that looks like it, as a sender ID. Prints the name and its owners.",
    )
    protected_add.add_argument("--name", required=True)
    protected_add.add_argument(
        "--owner", action="append", default=[], metavar="USERNAME", help="repeatable"
    )
    protected_add.set_defaults(run=_protected_add)
    protected_remove = protected.add_parser(
        "remove", help="stop protecting a name, or with --owner take one owner off it"
    )
    protected_remove.add_argument("--name", required=True)
    protected_remove.add_argument("--owner", metavar="USERNAME")
    protected_remove.set_defaults(run=_protected_remove)
    protected_list = protected.add_parser(
        "list", help="print each protected name and its owners, one a line"
    )
    protected_list.set_defaults(run=_protected_list)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        title="token commands", metavar="COMMAND", required=True
    )
    token_create = token.add_parser(
        "create", help="print a new bearer token for the HTTP API (shown only once)"
    )
    token_create.add_argument("--role", choices=[role.value for role in TokenRole], required=True)
    token_create.add_argument("--name", default="", help="what the token is for")
    token_create.set_defaults(run=_token_create)

    account = commands.add_parser("account", help="manage what an account may do").add_subparsers(
        title="account commands", metavar="COMMAND", required=True
    )
    countries = account.add_parser(
        "countries",
        help="print (or with --set, replace) the countries an account may send to",
    )
    countries.add_argument("--username", required=True)
    countries.add_argument(
        "--set",
        metavar="CC,CC",
        dest="countries",
        help="ISO 3166-1 alpha-2 codes, comma-separated, e.g. KW,SA",
    )
    countries.set_defaults(run=_account_countries)

    webhook = commands.add_parser("webhook", help="manage delivery-report webhooks").add_subparsers(
        title="webhook commands", metavar="COMMAND", required=True
    )
    webhook_set = webhook.add_parser(
        "set",
        help="post an account's delivery reports to a URL, and print the signing secret",
        description="Post the account's delivery reports to URL and print the secret that "
        "signs them: X-SecGate-Signature is sha256=<hex HMAC-SHA256(secret, "
        '"<X-SecGate-Timestamp>.<body>")>.',
    )
    webhook_set.add_argument("--username", required=True)
    webhook_set.add_argument(
        "--url",
        required=True,
        help="an http:// or https:// URL without credentials, to a public address "
        "(or one in SECGATE_WEBHOOK_ALLOWED_NETWORKS)",
    )
    webhook_set.set_defaults(run=_webhook_set)
    webhook_clear = webhook.add_parser("clear", help="stop posting an account's delivery reports")
    webhook_clear.add_argument("--username", required=True)
    webhook_clear.set_defaults(run=_webhook_clear)

    contacts_cmd = commands.add_parser("contacts", help="manage contact groups").add_subparsers(
        title="contacts commands", metavar="COMMAND", required=True
    )
    contacts_import = contacts_cmd.add_parser(
        "import",
        help="import a CSV file into a contact group and print what was refused and why",
        description="Import `name,number` lines (with or without a header) or numbers "
        "alone into the account's group, created if new. Prints a summary line, then one "
        "line for each row refused.",
    )
    contacts_import.add_argument("--username", required=True)
    contacts_import.add_argument("--group", required=True)
    contacts_import.add_argument("--file", required=True, help="the CSV file; - for stdin")
    contacts_import.set_defaults(run=_contacts_import)

    spam_model_commands.add_parser(commands)
    held_commands.add_parser(commands, _session)
    return parser


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    url = settings.database_url
    try:
        migrate.upgrade(url)
    except AlembicError as exc:
        raise CommandFailed(f"migration failed: {exc}") from exc
    except ArgumentError as exc:
        raise CommandFailed(f"SECGATE_DATABASE_URL: {exc}") from exc
    except (OSError, SQLAlchemyError) as exc:
        raise CommandFailed(_database_problem(url, exc)) from exc
    print(f"database schema is up to date ({_redacted(url)})")


def _user_create(args: argparse.Namespace, settings: Settings) -> None:
    password = _read_password_line() if args.password_stdin else args.password

    async def create() -> int:
        async with _session(settings) as session:
            account = await create_account(
                session,
                PasswordHasher(settings),
                username=args.username,
                password=password,
                mobile=args.mobile,
                country=args.country,
                role=Role(args.role),
                balance=args.balance,
            )
            await session.commit()
            return account.id

    print(asyncio.run(create()))


def _sender_add(args: argparse.Namespace, settings: Settings) -> None:
    async def add() -> SenderIdRegistration:
        async with _session(settings) as session:
            registration = await register_sender_id(
                session,
                username=args.username,
                sender=args.sender,
                transactional=args.transactional,
                look_alikes=LookAlikeRules.from_settings(settings),
            )
            await session.commit()
            return registration

    registration = asyncio.run(add())
    if not registration.added:
        print(_kind_set_line(registration))


def _kind_set_line(registration: SenderIdRegistration) -> str:
    """What `sender add` says of a sender ID the account had already."""
    kind = _sender_kind(registration.transactional)
    changed = registration.was_transactional != registration.transactional
    outcome = f"now {kind}" if changed else f"{kind}, unchanged"
    where = f"sender ID {registration.name!r} is already registered to {registration.owner!r}"
    return f"{where}: {outcome}"


def _sender_kind(transactional: bool) -> str:
    return "transactional" if transactional else "not transactional"


def _protected_add(args: argparse.Namespace, settings: Settings) -> None:
    async def add() -> protected_senders.ProtectedSenderView:
        async with _session(settings) as session:
            owners = [await _account(session, username) for username in args.owner]
            view, _ = await protected_senders.add_protected_sender(session, args.name, owners)
            await session.commit()
            return view

    print(_protected_line(asyncio.run(add())))
    _protected_changed(settings)


def _protected_remove(args: argparse.Namespace, settings: Settings) -> None:
    async def remove() -> protected_senders.ProtectedSenderView:
        async with _session(settings) as session:
            if args.owner is None:
                view = await protected_senders.remove_protected_sender(session, args.name)
            else:
                owner = await _account(session, args.owner)
                view = await protected_senders.remove_owner(session, args.name, owner)
            await session.commit()
            return view

    view = asyncio.run(remove())
    if args.owner is not None:
        print(_protected_line(view))
    _protected_changed(settings)


def _protected_list(args: argparse.Namespace, settings: Settings) -> None:
    async def read() -> list[protected_senders.ProtectedSenderView]:
        async with _session(settings) as session:
            return await protected_senders.list_protected_senders(session)

    for view in asyncio.run(read()):
        print(_protected_line(view))


def _protected_line(view: protected_senders.ProtectedSenderView) -> str:
    return f"{view.name}\t{','.join(view.owners)}"


def _protected_changed(settings: Settings) -> None:
    # Running gateways read the names from the database, cached for this long.
    print(
        f"running gateways apply this within {settings.protected_senders_cache_s:g} s",
        file=sys.stderr,
    )


def _token_create(args: argparse.Namespace, settings: Settings) -> None:
    async def create() -> str:
        async with _session(settings) as session:
            try:
                token = await create_token(session, TokenRole(args.role), args.name)
            except ValueError as exc:  # the name is too long
                raise CommandFailed(f"--name: {exc}") from exc
            await session.commit()
            return token

    print(asyncio.run(create()))
    print("The token is shown only this once; store it now.", file=sys.stderr)


def _account_countries(args: argparse.Namespace, settings: Settings) -> None:
    async def change() -> list[str]:
        async with _session(settings) as session:
            if args.countries is None:
                account = await _account(session, args.username)
            else:
                codes = [code for code in args.countries.split(",") if code.strip()]
                if not codes:
                    raise CommandFailed("--set: name at least one country, e.g. KW")
                account = await set_activated_countries(session, args.username, codes)
                await session.commit()
            return list(account.activated_countries)

    print(",".join(asyncio.run(change())))


def _webhook_set(args: argparse.Namespace, settings: Settings) -> None:
    settings = settings.with_secret_key()  # the server's key: it signs with the same

    async def change() -> str:
        async with _session(settings) as session:
            secret = await webhooks.set_webhook_url(session, settings, args.username, args.url)
            await session.commit()
            return secret

    print(asyncio.run(change()))


def _webhook_clear(args: argparse.Namespace, settings: Settings) -> None:
    async def change() -> None:
        async with _session(settings) as session:
            await webhooks.set_webhook_url(session, settings, args.username, None)
            await session.commit()

    asyncio.run(change())


def _contacts_import(args: argparse.Namespace, settings: Settings) -> None:
    data = _read_file(args.file)

    async def run() -> contacts.ImportReport:
        async with _session(settings) as session:
            account = await _account(session, args.username)
            try:
                report = await contacts.import_csv(
                    session,
                    account.id,
                    args.group,
                    data,
                    max_group_numbers=settings.max_group_send_numbers,
                )
            except contacts.ContactsError as exc:
                raise CommandFailed(str(exc)) from exc
            await session.commit()
            return report

    report = asyncio.run(run())
    print(
        f"group {report.group}: {report.added} added, {report.duplicates} duplicates, "
        f"{len(report.rejected)} rejected"
    )
    for problem in report.rejected:
        print(f"line {problem.line}: {problem.reason}: {problem.raw}")


async def _account(session: AsyncSession, username: str) -> Account:
    account = await find_account(session, username)
    if account is None:
        raise AccountNotFound(f"no account named {username!r}")
    return account


def _read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read(contacts.MAX_IMPORT_BYTES + 1)
    try:
        with open(path, "rb") as f:
            return f.read(contacts.MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise CommandFailed(f"--file: cannot read {path}: {exc.strerror}") from exc


def _read_password_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise CommandFailed("--password-stdin: nothing on standard input")
    return line.removesuffix("\n").removesuffix("\r")


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on a reachable database whose schema is up to date."""
    url = settings.database_url
    try:
        engine = create_engine(url)
    except ArgumentError as exc:
        raise CommandFailed(f"SECGATE_DATABASE_URL: {exc}") from exc
    except OSError as exc:
        raise CommandFailed(_database_problem(url, exc)) from exc
    try:
        await _require_current_schema(engine, url)
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def _require_current_schema(engine: AsyncEngine, url: str) -> None:
    try:
        async with engine.connect() as conn:
            applied = await conn.run_sync(
                lambda sync_conn: set(MigrationContext.configure(sync_conn).get_current_heads())
            )
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise CommandFailed(_database_problem(url, exc)) from exc
    expected = set(ScriptDirectory.from_config(migrate.alembic_config(url)).get_heads())
    if applied != expected:
        raise CommandFailed(
            f"the database schema is not up to date ({_redacted(url)} is at revision "
            f"{', '.join(sorted(applied)) or 'none'}, this SecGate needs "
            f"{', '.join(sorted(expected))}): run `{PROG} migrate` first"
        )


def _database_problem(url: str, exc: BaseException) -> str:
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"cannot use the database {_redacted(url)}: {_first_line(reason)}"


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable SECGATE_DATABASE_URL)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _fail(message: str) -> int:
    print(f"secgate: error: {message}", file=sys.stderr)
    return 1
