"""Accounts and what belongs to them: creating, finding, sender IDs, API allowlist,
the countries an account may send to.

Plain async functions over an AsyncSession, knowing nothing of HTTP or the command
line. They add and change rows and flush; the caller commits. Bad input raises an
AccountError subclass whose message can be shown to the operator as it is.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from secgate.auth.passwords import PasswordHasher
from secgate.checks import protected_senders
from secgate.checks.sender_ids import LookAlikeRules
from secgate.sms import credits
from secgate.sms.numbers import InvalidNumber, normalize_msisdn
from secgate.storage.models import Account, Role, SenderId

USERNAME_MAX_CHARS = 64
PASSWORD_MIN_CHARS = 8
# Long enough for any passphrase or generated secret; bounds the work one login costs.
PASSWORD_MAX_CHARS = 1024
# The balance column is a signed 64-bit integer.
BALANCE_MAX = 2**63 - 1

# ASCII only: look-alike letters from other scripts ("аdmin" with a Cyrillic "а")
# would otherwise make two accounts that people cannot tell apart.
_USERNAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{USERNAME_MAX_CHARS - 1}}}")
# Alphanumeric originators are at most 11 characters (GSM 03.40), and operators take
# only ASCII letters, digits, space, "." and "-" in them.
_SENDER_ID = re.compile(r"[A-Za-z0-9.-]([A-Za-z0-9 .-]{0,9}[A-Za-z0-9.-])?")


class AccountError(Exception):
    """A request about accounts that cannot be carried out; the message says why."""


class InvalidField(AccountError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AccountExists(AccountError):
    pass


class AccountNotFound(AccountError):
    pass


class SenderIdExists(AccountError):
    pass


class ProtectedSenderId(AccountError):
    """The sender ID is a protected name, or looks like one, that the account does not own."""


def username_key(username: str) -> str:
    """The form usernames are unique and looked up in: "Admin" and "ａｄｍｉｎ" are one."""
    return unicodedata.normalize("NFKC", username).casefold()


async def find_account(session: AsyncSession, username: str) -> Account | None:
    key = username_key(username)
    # Nothing stored can match a key that is not itself a valid username; not asking
    # the database also keeps NUL bytes and megabyte strings away from it.
    if not _USERNAME.fullmatch(key):
        return None
    return await session.scalar(select(Account).where(Account.username_key == key))


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What the content checks need of an account (secgate.checks.routes), read fresh
    on every call."""

    id: int
    username_key: str
    mobile: str
    home_country: str
    sender_ids: frozenset[str]
    # Those of `sender_ids` registered as transactional.
    transactional_sender_ids: frozenset[str] = frozenset()


_ACCOUNTS = Account.__table__
_SENDER_IDS = SenderId.__table__
# One statement for the accounts and their sender IDs (a row per sender ID, one with
# NULL for an account without any), built once: through the ORM this was a query for
# the accounts, another for their sender IDs, and the ORM's bookkeeping.
_PROFILES = (
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.username_key,
        _ACCOUNTS.c.mobile,
        _ACCOUNTS.c.home_country,
        _SENDER_IDS.c.name,
        _SENDER_IDS.c.transactional,
    )
    .select_from(_ACCOUNTS.outerjoin(_SENDER_IDS, _SENDER_IDS.c.account_id == _ACCOUNTS.c.id))
    .where(_ACCOUNTS.c.username_key.in_(bindparam("keys", expanding=True)))
)


async def account_profiles(
    connection: AsyncConnection, usernames: Iterable[str]
) -> dict[str, AccountProfile]:
    """The accounts of `usernames` that exist, by username_key, in one round trip."""
    keys = {key for key in map(username_key, usernames) if _USERNAME.fullmatch(key)}
    if not keys:
        return {}
    rows: dict[str, tuple[int, str, str, set[str], set[str]]] = {}
    for account_id, key, mobile, home_country, sender, transactional in await connection.execute(
        _PROFILES, {"keys": sorted(keys)}
    ):
        _, _, _, senders, transactionals = rows.setdefault(
            key, (account_id, mobile, home_country, set(), set())
        )
        if sender is not None:
            senders.add(sender)
            if transactional:
                transactionals.add(sender)
    return {
        key: AccountProfile(
            account_id, key, mobile, home_country, frozenset(senders), frozenset(transactionals)
        )
        for key, (account_id, mobile, home_country, senders, transactionals) in rows.items()
    }


async def create_account(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
    mobile: str,
    country: str,
    role: Role = Role.CUSTOMER,
    balance: int = 0,
) -> Account:
    """Add a new account. On AccountExists the session's transaction has been
    rolled back (the clash may only show when the row is written)."""
    if not _USERNAME.fullmatch(username):
        raise InvalidField(
            "username",
            f"1 to {USERNAME_MAX_CHARS} characters: letters A-Z, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit",
        )
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise InvalidField(
            "password", f"must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long"
        )
    country = _country_code(country)
    try:
        mobile = normalize_msisdn(mobile, default_region=country)
    except InvalidNumber as exc:
        raise InvalidField("mobile", str(exc)) from exc
    if isinstance(balance, bool) or not 0 <= balance <= BALANCE_MAX:
        raise InvalidField("balance", f"must be a whole number of credits, 0 to {BALANCE_MAX}")
    # Checked before hashing so that a clash costs no argon2 work; the unique
    # constraint below still decides when two requests race.
    if await find_account(session, username) is not None:
        raise _exists(username)

    account = Account(
        username=username,
        username_key=username_key(username),
        role=Role(role),
        password_hash=await hasher.hash(password),
        mobile=mobile,
        home_country=country,
        # An account starts able to send to its own country only; staff activate more
        # (`account countries`).
        activated_countries=[country],
        balance=balance,
        purchased=balance,
        api_enabled=True,
        api_ip_allowlist=[],
        disabled=False,
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        if await find_account(session, username) is not None:
            raise _exists(username) from None
        raise
    if balance > 0:
        # The opening balance is a purchase like any other: the ledger accounts for it.
        session.add(
            credits.ledger_entry(
                account.id,
                delta=balance,
                balance_after=balance,
                reason=credits.CreditReason.PURCHASE,
            )
        )
        await session.flush()
    return account


async def add_sender_id(
    session: AsyncSession,
    *,
    username: str,
    sender: str,
    look_alikes: LookAlikeRules | None = None,
    transactional: bool = False,
) -> SenderId:
    """Register a sender ID (case-sensitive, as operators treat them) to an account;
    `transactional` when staff verified it is used only for one-time codes and notices.
    A protected name, or a look-alike of one (`look_alikes`: the matching thresholds,
    the settings' defaults when None), is refused unless the account owns the name.
    On SenderIdExists from a racing registration the transaction has been rolled back."""
    if not _SENDER_ID.fullmatch(sender):
        raise InvalidField(
            "sender",
            "1 to 11 characters: letters A-Z, digits, space, '.' or '-', "
            "not starting or ending with a space",
        )
    account = await _existing_account(session, username)
    owner = account.username  # read now: a rollback below expires the account
    if sender in _sender_names(account):
        raise _sender_exists(sender, owner)
    protected = await protected_senders.unowned_look_alike(
        session, sender, account.id, look_alikes or LookAlikeRules.from_settings()
    )
    if protected is not None:
        raise ProtectedSenderId(protected.reason)
    sender_id = SenderId(name=sender, transactional=transactional)
    account.sender_ids.append(sender_id)
    try:
        await session.flush()
    except IntegrityError:
        # Another request registered it meanwhile.
        await session.rollback()
        if sender in _sender_names(await _existing_account(session, username)):
            raise _sender_exists(sender, owner) from None
        raise
    return sender_id


@dataclass(frozen=True, slots=True)
class SenderIdRegistration:
    """What `register_sender_id` did."""

    name: str
    owner: str  # the account's username
    added: bool  # False: the account had it already, and only its kind was set
    transactional: bool  # its kind now
    was_transactional: bool  # its kind before (the same as now when added)


async def register_sender_id(
    session: AsyncSession,
    *,
    username: str,
    sender: str,
    transactional: bool = False,
    look_alikes: LookAlikeRules | None = None,
) -> SenderIdRegistration:
    """`sender add`: register the sender ID as `add_sender_id` does or, when the account
    has it already, set its kind to `transactional`, so that staff promote or demote an
    ID with the command that registered it. Only a new ID is checked against the
    protected names (the sender-ID guard checks every send's sender anyway)."""
    account = await _existing_account(session, username)
    owner = account.username
    existing = next((s for s in account.sender_ids if s.name == sender), None)
    if existing is None:
        await add_sender_id(
            session,
            username=username,
            sender=sender,
            look_alikes=look_alikes,
            transactional=transactional,
        )
        return SenderIdRegistration(sender, owner, True, transactional, transactional)
    was_transactional = existing.transactional
    existing.transactional = transactional
    await session.flush()
    return SenderIdRegistration(sender, owner, False, transactional, was_transactional)


async def set_api_allowlist(session: AsyncSession, username: str, cidrs: list[str]) -> Account:
    """Replace the addresses the account's API credentials work from; an empty list
    opens the API to every address. Entries are stored in canonical form."""
    networks: list[str] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip())
        except ValueError as exc:
            raise InvalidField("api_ip_allowlist", f"{cidr!r} is not a CIDR: {exc}") from exc
        if str(network) not in networks:
            networks.append(str(network))
    account = await _existing_account(session, username)
    # A new list, not an in-place change: the JSON column only notices assignment.
    account.api_ip_allowlist = networks
    await session.flush()
    return account


async def set_activated_countries(
    session: AsyncSession, username: str, countries: list[str]
) -> Account:
    """Replace the countries (ISO 3166-1 alpha-2) the account may send to; numbers
    elsewhere are refused with ERR026. Stored upper-case, sorted, without repeats."""
    codes = sorted({_country_code(country, "activated_countries") for country in countries})
    account = await _existing_account(session, username)
    # A new list, not an in-place change: the JSON column only notices assignment.
    account.activated_countries = codes
    await session.flush()
    return account


async def _existing_account(session: AsyncSession, username: str) -> Account:
    account = await find_account(session, username)
    if account is None:
        raise AccountNotFound(f"no account named {username!r}")
    return account


def _country_code(country: str, field: str = "country") -> str:
    code = country.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidField(field, f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _exists(username: str) -> AccountExists:
    return AccountExists(f"an account named {username!r} already exists")


def _sender_names(account: Account) -> set[str]:
    return {sender_id.name for sender_id in account.sender_ids}


def _sender_exists(sender: str, username: str) -> SenderIdExists:
    return SenderIdExists(f"sender ID {sender!r} is already registered to {username!r}")
