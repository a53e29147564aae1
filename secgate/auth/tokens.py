"""API bearer tokens: shown once in plaintext, stored only as a hash.

A token is `sgt_` followed by 43 URL-safe characters (32 random bytes). The prefix
lets people and secret scanners recognise a leaked SecGate token.

Functions here run inside the caller's session and never commit: the caller decides
the transaction (the CLI commits after `create_token`).

`TokenVerifier` answers for the HTTP API (one per application). A lookup costs a
database round trip or several (checkout, query, rollback), more than the rest of a
pre-send check, so a token that verified is remembered for `api_token_cache_s`:

- keyed by the token's SHA-256 (`hash_token`), never by the token itself, in the
  process only; a failed verification is never remembered (a new token works at once,
  and guessing costs a lookup each time as before);
- forgotten at once when `revoke_token` commits in this process (every verifier of
  the process drops that token). A revocation committed by another process is seen
  within `api_token_cache_s` (the gateway serves from one process; the CLI has no
  revoke command yet).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from secgate.storage.models import ApiToken, TokenRole

TOKEN_PREFIX = "sgt_"  # noqa: S105 (a public marker, not a secret)
_TOKEN_BYTES = 32
# token_urlsafe(32) is exactly 43 characters of unpadded base64url.
_TOKEN_SHAPE = re.compile(r"sgt_[A-Za-z0-9_-]{43}")
MAX_NAME_CHARS = 64  # ApiToken.name
# Verified tokens remembered per process at most; beyond, the cache starts afresh.
# Far above the tokens a deployment has: only a flood of distinct valid tokens fills it.
MAX_CACHED_TOKENS = 1024


def hash_token(token: str) -> str:
    """The stored form of a token.

    A plain SHA-256 is right here, unlike for passwords: the token carries 256 random
    bits, so its hash cannot be reversed by guessing, and a slow hash (argon2) would
    only add its cost to every API request.
    """
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(token) is not None


async def create_token(session: AsyncSession, role: TokenRole, name: str = "") -> str:
    """Add a new token to the session and return its plaintext, which is never stored.
    The caller commits."""
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"token name is longer than {MAX_NAME_CHARS} characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(ApiToken(name=name, role=TokenRole(role), token_hash=hash_token(token)))
    return token


async def authenticate_token(session: AsyncSession, token: str) -> ApiToken | None:
    """The live token row for `token`, or None when it is malformed, unknown or revoked.

    The lookup is by hash, so a timing difference in the index search can only tell
    an attacker about hashes of tokens they already hold, never about a stored token.
    """
    if not is_well_formed(token):
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


async def revoke_token(
    session: AsyncSession, token_id: int, *, now: datetime | None = None
) -> bool:
    """Revoke a token from now on; True if a live token was revoked. The caller commits."""
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
    )
    revoked = result.rowcount == 1  # type: ignore[attr-defined]
    if revoked:
        # Once the revocation is durable, no verifier of this process may answer from
        # its cache for the token. (A rolled-back session that commits later only
        # makes the verifiers look the token up again.)
        event.listen(
            session.sync_session, "after_commit", lambda _s: _forget_everywhere(token_id), once=True
        )
    return revoked


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a request needs of a live token row."""

    id: int
    role: TokenRole
    name: str


@dataclass(frozen=True, slots=True)
class _Remembered:
    token: VerifiedToken
    expires_at: float  # on the verifier's clock


class TokenVerifier:
    """Verifies bearer tokens for the HTTP API, remembering the ones that verified
    (see the module's description). One per application (appkeys.TOKENS)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, _Remembered] = {}
        # Bumped by each revocation: a lookup that started before one does not
        # remember what it read (the row may have been live then).
        self._generation = 0
        self._lookups: dict[str, asyncio.Future[VerifiedToken | None]] = {}
        _VERIFIERS.add(self)

    async def verify(self, token: str) -> VerifiedToken | None:
        """The live token, or None when it is malformed, unknown or revoked."""
        if not is_well_formed(token):
            return None
        # A dict lookup by hash leaks, like the database's index search, only timing
        # about hashes of tokens the caller already holds (see `authenticate_token`).
        key = hash_token(token)
        remembered = self._cache.get(key)
        if remembered is not None:
            if self._clock() < remembered.expires_at:
                return remembered.token
            del self._cache[key]
        # Requests with the same token at once (a busy client when its entry expires)
        # share one lookup.
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(key, token))
            self._lookups[key] = lookup
            lookup.add_done_callback(lambda done: self._lookup_done(key, done))
        return await asyncio.shield(lookup)

    async def _look_up(self, key: str, token: str) -> VerifiedToken | None:
        generation = self._generation
        async with self._sessions() as session:
            row = await authenticate_token(session, token)
            if row is None:
                return None
            verified = VerifiedToken(row.id, row.role, row.name)
        if self._cache_s > 0 and generation == self._generation:
            if len(self._cache) >= MAX_CACHED_TOKENS:
                self._cache.clear()
            self._cache[key] = _Remembered(verified, self._clock() + self._cache_s)
        return verified

    def _lookup_done(self, key: str, done: asyncio.Future[VerifiedToken | None]) -> None:
        if self._lookups.get(key) is done:
            del self._lookups[key]

    def forget(self, token_id: int) -> None:
        """Drop the token from the cache (it was revoked)."""
        self._generation += 1
        # A finished lookup may still be listed until its callback runs.
        self._lookups = {k: f for k, f in self._lookups.items() if not f.done()}
        for key in [k for k, v in self._cache.items() if v.token.id == token_id]:
            del self._cache[key]


# Every verifier of the process, for `revoke_token` to reach (weakly: an application
# that is gone takes its verifier with it).
_VERIFIERS: weakref.WeakSet[TokenVerifier] = weakref.WeakSet()


def _forget_everywhere(token_id: int) -> None:
    for verifier in list(_VERIFIERS):
        verifier.forget(token_id)
