"""Password hashing with argon2id, off the event loop.

One argon2 hash costs tens of milliseconds of CPU and tens of MiB of memory by
design; run on the event loop it would stall every other request, so each one
runs in a worker thread (argon2-cffi releases the GIL while it hashes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import unicodedata
from dataclasses import dataclass

import argon2
from argon2.exceptions import VerificationError, VerifyMismatchError

from secgate.settings import Settings


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    # Set when the password was right but the stored hash was made with other
    # parameters than the current ones: the caller stores this one instead.
    new_hash: str | None = None


class PasswordHasher:
    def __init__(self, settings: Settings) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self._dummy_hash = _unmatchable_hash(self._argon2)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, _normalize(password))

    async def verify(self, stored_hash: str, password: str) -> Verification:
        return await asyncio.to_thread(self._verify, stored_hash, _normalize(password))

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real verification spends, for a user that does not exist,
        so that the time of an answer does not tell unknown users from known ones."""
        await asyncio.to_thread(self._spend_a_verification, _normalize(password))

    def _verify(self, stored_hash: str, password: str) -> Verification:
        try:
            self._argon2.verify(stored_hash, password)
        except VerifyMismatchError:
            return Verification(ok=False)
        except (VerificationError, ValueError):
            # A damaged stored hash (bad encoding, impossible parameters) denies,
            # and takes as long as any other denial.
            self._spend_a_verification(password)
            return Verification(ok=False)
        if self._argon2.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=self._argon2.hash(password))
        return Verification(ok=True)

    def _spend_a_verification(self, password: str) -> None:
        with contextlib.suppress(VerifyMismatchError):
            self._argon2.verify(self._dummy_hash, password)


def _normalize(password: str) -> str:
    # NFKC, as NIST SP 800-63B advises: the same password typed on two keyboards
    # (composed or decomposed accents, full-width forms) verifies on both.
    return unicodedata.normalize("NFKC", password)


def _unmatchable_hash(hasher: argon2.PasswordHasher) -> str:
    """An encoded argon2 hash with the current parameters whose digest is random
    bytes: verifying against it does all the work of a real verification and
    never succeeds. Built without hashing, so constructing a hasher is instant."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    salt = b64(secrets.token_bytes(hasher.salt_len))
    digest = b64(secrets.token_bytes(hasher.hash_len))
    return (
        f"$argon2id$v={argon2.low_level.ARGON2_VERSION}"
        f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}${salt}${digest}"
    )
