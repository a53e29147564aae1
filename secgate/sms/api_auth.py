"""Who is calling the messaging API (`/API/*`): a username and password, checked.

kwtSMS clients send the account's username and password with every request, and an
argon2 verification costs tens of milliseconds of CPU by design. A credential that
verified is therefore remembered in the hot state for `api_credential_cache_s`:

- under HMAC-SHA256(secret_key, username_key + NUL + password), so the store holds
  neither the password nor an unkeyed hash of it (cheap to brute-force offline);
- holding the account id and a keyed digest of the account's password hash, so that a
  password change makes every remembered credential of the account worthless at once.

Whether the account is blocked, may use the API and from which addresses is read from
the database on every call, so a change there applies to the very next request.

The hot state is an accelerator here, not a guard: when it does not answer, every call
takes the slow path (a full argon2 verification). Authentication still works, only
slower; nothing is let through that the slow path would refuse.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from secgate.accounts.registry import PASSWORD_MAX_CHARS, find_account, username_key
from secgate.alerts.store import AlertSink
from secgate.auth.passwords import PasswordHasher
from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.storage.models import Account, AlertSeverity, Role

log = logging.getLogger("secgate.sms.api_auth")

CACHE_KEY_PREFIX = "api.credential:"
IP_LOCKDOWN_ALERT = "api.ip_lockdown"
_WITH_SENDER_IDS = [joinedload(Account.sender_ids)]


@dataclass(frozen=True, slots=True)
class ApiDenied:
    """Why the caller may not use the API, as a kwtSMS error code and description."""

    code: str
    description: str


# One answer for an unknown username and for a wrong password: no user enumeration.
WRONG_CREDENTIALS = ApiDenied("ERR003", "Authentication error: wrong API username or password")
ACCOUNT_BLOCKED = ApiDenied("ERR005", "This account is blocked")
NO_API_ACCESS = ApiDenied("ERR004", "This account has no API access")
API_DISABLED = ApiDenied("ERR001", "The API is disabled on this account")
IP_NOT_ALLOWED = ApiDenied("ERR024", "Your IP address is not in the API allowlist of this account")


@dataclass(frozen=True, slots=True)
class _CachedCredential:
    account_id: int
    password_hash_digest: str


class ApiAuthenticator:
    """Checks API credentials and what the account allows. One per application."""

    def __init__(
        self, *, hot: HotState, hasher: PasswordHasher, alerts: AlertSink, settings: Settings
    ) -> None:
        if not settings.secret_key:
            raise ValueError("the credential cache needs settings.secret_key")
        self._hot = hot
        self._hasher = hasher
        self._alerts = alerts
        self._secret = settings.secret_key.encode()
        self._cache_ttl_s = settings.api_credential_cache_s

    async def authenticate(
        self, session: AsyncSession, username: str, password: str, client_ip: str | None
    ) -> Account | ApiDenied:
        """The account, loaded in `session`, or why not. The password is checked first,
        so the other refusals (which do tell that the account exists) only ever reach
        someone who knows it. Commits `session` when it stores an upgraded password hash."""
        account = await self._verified_account(session, username, password)
        if account is None:
            return WRONG_CREDENTIALS
        if account.disabled:
            return ACCOUNT_BLOCKED
        # Staff credentials open the security console; a password-only API must not
        # be a way around that console's second factor.
        if account.role is not Role.CUSTOMER:
            return NO_API_ACCESS
        if not account.api_enabled:
            return API_DISABLED
        if not ip_allowed(client_ip, account.api_ip_allowlist):
            await self._raise_lockdown_alert(account, client_ip)
            return IP_NOT_ALLOWED
        return account

    async def _verified_account(
        self, session: AsyncSession, username: str, password: str
    ) -> Account | None:
        if len(password) > PASSWORD_MAX_CHARS:
            # No stored password is this long. Refusing at once tells nothing about the
            # user, and spares hashing a megabyte.
            return None
        cache_key = self._cache_key(username, password)
        cached = await self._cached(cache_key)
        if cached is not None:
            # The account and its sender IDs (which the handlers use) in one query.
            account = await session.get(Account, cached.account_id, options=_WITH_SENDER_IDS)
            if account is not None and self._still_matches(account, username, cached):
                return account

        account = await find_account(session, username)
        if account is None:
            await self._hasher.verify_dummy(password)
            return None
        verification = await self._hasher.verify(account.password_hash, password)
        if not verification.ok:
            return None
        if verification.new_hash is not None:
            account.password_hash = verification.new_hash
            await session.commit()
        await self._remember(cache_key, account)
        return account

    def _still_matches(self, account: Account, username: str, cached: _CachedCredential) -> bool:
        # The name is checked too: were the account renamed and its old name given to
        # someone else, the old name's entry must not open the renamed account.
        return account.username_key == username_key(username) and hmac.compare_digest(
            cached.password_hash_digest, self._password_hash_digest(account.password_hash)
        )

    def _cache_key(self, username: str, password: str) -> str:
        message = f"{username_key(username)}\0{password}".encode()
        return CACHE_KEY_PREFIX + hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _password_hash_digest(self, password_hash: str) -> str:
        message = b"password-hash\0" + password_hash.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    async def _cached(self, cache_key: str) -> _CachedCredential | None:
        if self._cache_ttl_s <= 0:
            return None
        try:
            raw = await self._hot.get(cache_key)
        except HotStateUnavailable:
            # Fail open to the slow path: a full verification follows.
            log.warning("api_credential_cache_unavailable", exc_info=True)
            return None
        if raw is None:
            return None
        account_id, _, digest = raw.decode("ascii", "replace").partition(":")
        if not account_id.isdigit() or not digest:
            return None
        return _CachedCredential(int(account_id), digest)

    async def _remember(self, cache_key: str, account: Account) -> None:
        if self._cache_ttl_s <= 0:
            return
        value = f"{account.id}:{self._password_hash_digest(account.password_hash)}"
        try:
            await self._hot.put(cache_key, value.encode("ascii"), ttl_s=self._cache_ttl_s)
        except HotStateUnavailable:
            # The next call verifies in full again; nothing else is lost.
            log.warning("api_credential_cache_unavailable", exc_info=True)

    async def _raise_lockdown_alert(self, account: Account, client_ip: str | None) -> None:
        address = _address(client_ip)
        try:
            await self._alerts.raise_alert(
                type=IP_LOCKDOWN_ALERT,
                # The right password from an address the owner did not allow: the
                # credentials have likely leaked.
                severity=AlertSeverity.HIGH,
                account_id=account.id,
                ip=str(address) if address is not None else None,
                details={"client_ip": client_ip, "allowlist": list(account.api_ip_allowlist)},
            )
        except Exception:
            # The sink has logged the alert in full; the caller is refused all the same.
            log.exception("api_lockdown_alert_failed", extra={"account_id": account.id})


def ip_allowed(client_ip: str | None, allowlist: list[str]) -> bool:
    """True when the allowlist is empty (the API is open to every address) or holds a
    network containing `client_ip`. An address that cannot be read is never allowed."""
    if not allowlist:
        return True
    address = _address(client_ip)
    if address is None:
        return False
    for cidr in allowlist:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            # The registry stores canonical CIDRs; a damaged entry allows nothing.
            continue
        if address in network:  # False, not an error, across IPv4 and IPv6
            return True
    return False


def _address(client_ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not client_ip:
        return None
    try:
        return ipaddress.ip_address(client_ip)
    except ValueError:
        return None
