"""API bearer tokens: shown once in plaintext, stored only as a hash.

A token is `sgt_` followed by 43 URL-safe characters (32 random bytes). The prefix
lets people and secret scanners recognise a leaked SecGate token.

Functions here run inside the caller's session and never commit: the caller decides
the transaction (the CLI commits after `create_token`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from secgate.storage.models import ApiToken, TokenRole

TOKEN_PREFIX = "sgt_"  # noqa: S105 (a public marker, not a secret)
_TOKEN_BYTES = 32
# token_urlsafe(32) is exactly 43 characters of unpadded base64url.
_TOKEN_SHAPE = re.compile(r"sgt_[A-Za-z0-9_-]{43}")
MAX_NAME_CHARS = 64  # ApiToken.name


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
    return result.rowcount == 1  # type: ignore[attr-defined]
