"""Protected sender names: the registry staff edit, and the cache the checks read.

Storage functions over an AsyncSession, like `secgate.accounts.registry`: they add
and change rows and flush; the caller commits. Bad input raises a
ProtectedSenderError whose message can be shown as it is.

Names are stored as the guard compares them: capitals and digits, 2 to 11
characters, at least one letter ("nbk" is stored as NBK). A name may have owners:
the accounts that may use it and its look-alikes (`secgate.checks.sender_ids`).
Migration 0003 seeds the names of Kuwaiti and Gulf operators, banks, government
services and big brands.

The send path reads the names through `ProtectedSenderCache`, at most once per
`protected_senders_cache_s` per process. An edit made through this process (the
staff API) applies at once; one made by another process (another gateway worker,
the command line) is seen within that time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

# Nothing here may import secgate.accounts.registry (or what imports it, such as
# secgate.alerts): registering a sender ID calls `unowned_look_alike` from there.
from secgate.checks.sender_ids import LookAlikeRules, ProtectedName, SenderMatch, SenderMatcher
from secgate.checks.verdict import CheckStoreUnavailable
from secgate.settings import Settings
from secgate.storage.db import SessionFactory
from secgate.storage.models import Account, ProtectedSender, ProtectedSenderOwner

log = logging.getLogger("secgate.checks")

NAME_MIN_CHARS = 2
NAME_MAX_CHARS = 11  # as long as a sender ID may be
_NAME = re.compile(rf"[A-Z0-9]{{{NAME_MIN_CHARS},{NAME_MAX_CHARS}}}")
# After a failed read, a process keeps its stale copy and tries again after this long
# at most (sooner when the cache time is shorter).
STALE_RETRY_S = 1.0


class ProtectedSenderError(Exception):
    """A change to the protected names that cannot be made; the message says why."""


class InvalidProtectedName(ProtectedSenderError):
    pass


class ProtectedSenderNotFound(ProtectedSenderError):
    pass


class ProtectedSenderConflict(ProtectedSenderError):
    """Another request added the same name at the same moment."""


@dataclass(frozen=True, slots=True)
class ProtectedSenderView:
    """A protected name as staff see it."""

    name: str
    owners: tuple[str, ...]  # usernames
    created_at: datetime


def canonical_name(name: str) -> str:
    """The stored form of a protected name: capitals and digits."""
    canonical = name.strip().upper()
    if not _NAME.fullmatch(canonical) or not any(c.isalpha() for c in canonical):
        raise InvalidProtectedName(
            f"name: {NAME_MIN_CHARS} to {NAME_MAX_CHARS} letters A-Z and digits, at least "
            "one letter (look-alikes such as 'N.B.K' or 'N8K' are found from the name itself)"
        )
    return canonical


async def list_protected_senders(session: AsyncSession) -> list[ProtectedSenderView]:
    rows = await session.scalars(select(ProtectedSender).order_by(ProtectedSender.name))
    return [_view(row) for row in rows]


async def load_protected_names(session: AsyncSession) -> list[ProtectedName]:
    """Every protected name with its owners' account ids: what the matcher needs."""
    rows = await session.execute(
        select(ProtectedSender.name, ProtectedSenderOwner.account_id).outerjoin(
            ProtectedSenderOwner, ProtectedSenderOwner.protected_id == ProtectedSender.id
        )
    )
    owners: dict[str, set[int]] = {}
    for name, account_id in rows:
        owners.setdefault(name, set())
        if account_id is not None:
            owners[name].add(account_id)
    return [ProtectedName(name, frozenset(ids)) for name, ids in sorted(owners.items())]


async def add_protected_sender(
    session: AsyncSession, name: str, owners: Sequence[Account] = ()
) -> tuple[ProtectedSenderView, bool]:
    """Protect `name`, or give an existing one more owners. Returns the name as it now
    stands and whether it is new. On ProtectedSenderConflict the transaction has been
    rolled back."""
    canonical = canonical_name(name)
    row = await _find(session, canonical)
    created = row is None
    if row is None:
        row = ProtectedSender(name=canonical, owners=[])
        session.add(row)
    for owner in owners:
        if all(existing.id != owner.id for existing in row.owners):
            row.owners.append(owner)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise ProtectedSenderConflict(
            f"{canonical} was changed by another request at the same time; try again"
        ) from None
    return _view(row), created


async def remove_protected_sender(session: AsyncSession, name: str) -> ProtectedSenderView:
    """Stop protecting `name` (its owners go with it)."""
    row = await _existing(session, name)
    view = _view(row)
    await session.delete(row)
    await session.flush()
    return view


async def remove_owner(session: AsyncSession, name: str, owner: Account) -> ProtectedSenderView:
    """Take `owner` off the owners of `name`; the name stays protected."""
    row = await _existing(session, name)
    if all(existing.id != owner.id for existing in row.owners):
        raise ProtectedSenderNotFound(f"{owner.username!r} is not an owner of {row.name}")
    row.owners = [existing for existing in row.owners if existing.id != owner.id]
    await session.flush()
    return _view(row)


async def unowned_look_alike(
    session: AsyncSession, sender: str, account_id: int, rules: LookAlikeRules
) -> SenderMatch | None:
    """The protected name `sender` is or looks like and `account_id` does not own, if
    any. Reads the names afresh (registering a sender ID is rare; it must see the
    latest list)."""
    matcher = SenderMatcher(await load_protected_names(session), rules)
    return matcher.unowned_match(sender, account_id)


async def _find(session: AsyncSession, canonical: str) -> ProtectedSender | None:
    return await session.scalar(select(ProtectedSender).where(ProtectedSender.name == canonical))


async def _existing(session: AsyncSession, name: str) -> ProtectedSender:
    try:
        canonical = canonical_name(name)
    except InvalidProtectedName:
        canonical = None
    row = None if canonical is None else await _find(session, canonical)
    if row is None:
        raise ProtectedSenderNotFound(f"{name.strip()!r} is not a protected sender name")
    return row


def _view(row: ProtectedSender) -> ProtectedSenderView:
    return ProtectedSenderView(
        row.name, tuple(owner.username for owner in row.owners), row.created_at
    )


# What a failed read of the registry can raise: the database refused or did not answer.
_STORE_ERRORS = (SQLAlchemyError, OSError, TimeoutError)


class ProtectedSenderCache:
    """The compiled registry, read from the database at most once per
    `protected_senders_cache_s`; one per process, shared by every check.

    Fails closed: when the registry cannot be read and nothing was read before,
    `matcher()` raises CheckStoreUnavailable (the send is refused, ERR013). With a copy
    read before, it goes on with that copy, logs a warning, and tries the database
    again after at most STALE_RETRY_S.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._rules = LookAlikeRules.from_settings(settings)
        self._cache_s = settings.protected_senders_cache_s
        self._clock = clock
        self._matcher: SenderMatcher | None = None
        self._next_read_at = 0.0
        # Bumped by invalidate(): a read that began before an edit is not taken as fresh.
        self._generation = 0
        self._lock = asyncio.Lock()

    async def matcher(self) -> SenderMatcher:
        if self._matcher is not None and self._clock() < self._next_read_at:
            return self._matcher
        async with self._lock:  # one read at a time; the others wait for its result
            if self._matcher is not None and self._clock() < self._next_read_at:
                return self._matcher
            return await self._read()

    def invalidate(self) -> None:
        """The names changed: read them again before the next use."""
        self._generation += 1
        self._next_read_at = 0.0

    async def _read(self) -> SenderMatcher:
        generation = self._generation
        try:
            async with self._sessions() as session:
                names = await load_protected_names(session)
        except _STORE_ERRORS as exc:
            if self._matcher is None:
                log.warning("protected_senders_unavailable", exc_info=True)
                raise CheckStoreUnavailable("the protected sender names cannot be read") from exc
            log.warning("protected_senders_stale", exc_info=True)
            self._next_read_at = self._clock() + min(self._cache_s, STALE_RETRY_S)
            return self._matcher
        self._matcher = SenderMatcher(names, self._rules)
        if generation == self._generation:
            self._next_read_at = self._clock() + self._cache_s
        return self._matcher
