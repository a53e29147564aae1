"""API tokens: shown once, stored as a SHA-256, refused once revoked or malformed."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fake_clock import FakeClock
from sqlalchemy import select, update

from secgate.auth.tokens import (
    MAX_CACHED_TOKENS,
    TokenVerifier,
    VerifiedToken,
    _Remembered,
    authenticate_token,
    create_token,
    hash_token,
    revoke_token,
)
from secgate.storage.db import SessionFactory
from secgate.storage.models import ApiToken, TokenRole


async def new_token(db_sessions: SessionFactory, role: TokenRole, name: str = "") -> str:
    async with db_sessions.begin() as session:
        return await create_token(session, role, name)


async def test_token_is_prefixed_and_carries_32_random_bytes(db_sessions: SessionFactory) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    assert re.fullmatch(r"sgt_[A-Za-z0-9_-]{43}", token)


async def test_each_token_is_different(db_sessions: SessionFactory) -> None:
    tokens = {await new_token(db_sessions, TokenRole.STAFF) for _ in range(5)}
    assert len(tokens) == 5


async def test_only_the_sha256_of_the_token_is_stored(db_sessions: SessionFactory) -> None:
    token = await new_token(db_sessions, TokenRole.PIPELINE, "sms pipeline")
    async with db_sessions() as session:
        row = await session.scalar(select(ApiToken))
    assert row is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.name)


async def test_token_authenticates_with_its_role_and_name(db_sessions: SessionFactory) -> None:
    token = await new_token(db_sessions, TokenRole.PIPELINE, "sms pipeline")
    async with db_sessions() as session:
        row = await authenticate_token(session, token)
    assert row is not None
    assert (row.role, row.name) == (TokenRole.PIPELINE, "sms pipeline")


async def test_token_is_not_stored_until_the_caller_commits(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        token = await create_token(session, TokenRole.STAFF)
        await session.rollback()
    async with db_sessions() as session:
        assert await authenticate_token(session, token) is None


async def test_revoked_token_no_longer_authenticates(db_sessions: SessionFactory) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        assert await revoke_token(session, row.id) is True
    async with db_sessions() as session:
        assert await authenticate_token(session, token) is None


async def test_revoking_twice_or_an_unknown_id_revokes_nothing(
    db_sessions: SessionFactory,
) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        assert await revoke_token(session, row.id) is True
        assert await revoke_token(session, row.id) is False
        assert await revoke_token(session, row.id + 1000) is False


async def test_revoking_one_token_leaves_others_working(db_sessions: SessionFactory) -> None:
    first = await new_token(db_sessions, TokenRole.STAFF)
    second = await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, first)
        assert row is not None
        await revoke_token(session, row.id)
    async with db_sessions() as session:
        assert await authenticate_token(session, second) is not None


async def test_unknown_well_formed_token_is_refused(db_sessions: SessionFactory) -> None:
    await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions() as session:
        assert await authenticate_token(session, "sgt_" + "A" * 43) is None


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t[:-1], id="one-character-short"),
        pytest.param(lambda t: t + "A", id="one-character-long"),
        pytest.param(lambda t: "xyz_" + t[4:], id="wrong-prefix"),
        pytest.param(lambda t: t[4:], id="no-prefix"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: t[:-1] + "é", id="non-ascii"),
        pytest.param(lambda t: t[:-1] + "\x00", id="nul-byte"),
        pytest.param(lambda t: t.upper(), id="case-changed"),
    ],
)
async def test_malformed_or_altered_token_is_refused(
    db_sessions: SessionFactory, mangle: Callable[[str], str]
) -> None:
    token = await new_token(db_sessions, TokenRole.STAFF)
    async with db_sessions() as session:
        assert await authenticate_token(session, mangle(token)) is None


async def test_token_name_over_64_characters_is_refused(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        with pytest.raises(ValueError, match="64"):
            await create_token(session, TokenRole.STAFF, "n" * 65)
        await create_token(session, TokenRole.STAFF, "n" * 64)
        await session.commit()


# -- the verifier of the HTTP API: verified tokens remembered for a while -----------


async def rename(db_sessions: SessionFactory, token: str, name: str) -> None:
    """Change the stored row behind the verifier's back: shows whether it was read."""
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        row.name = name


async def test_verifier_answers_the_live_token(db_sessions: SessionFactory) -> None:
    token = await new_token(db_sessions, TokenRole.PIPELINE, "sms pipeline")
    verified = await TokenVerifier(db_sessions, cache_s=5.0).verify(token)
    assert verified is not None
    assert (verified.role, verified.name) == (TokenRole.PIPELINE, "sms pipeline")


async def test_verifier_refuses_unknown_and_malformed_tokens(db_sessions: SessionFactory) -> None:
    await new_token(db_sessions, TokenRole.STAFF)
    verifier = TokenVerifier(db_sessions, cache_s=5.0)
    assert await verifier.verify("sgt_" + "A" * 43) is None
    assert await verifier.verify("not a token") is None


async def test_verified_token_is_remembered_for_cache_s_then_read_again(
    db_sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(db_sessions, cache_s=5.0, clock=clock)
    token = await new_token(db_sessions, TokenRole.STAFF, "before")
    assert (await verifier.verify(token)).name == "before"  # type: ignore[union-attr]
    await rename(db_sessions, token, "after")
    clock.now += 4.999
    assert (await verifier.verify(token)).name == "before"  # type: ignore[union-attr]
    clock.now += 0.001
    assert (await verifier.verify(token)).name == "after"  # type: ignore[union-attr]


async def test_cache_s_zero_reads_every_time(db_sessions: SessionFactory) -> None:
    verifier = TokenVerifier(db_sessions, cache_s=0.0, clock=FakeClock())
    token = await new_token(db_sessions, TokenRole.STAFF, "before")
    assert (await verifier.verify(token)).name == "before"  # type: ignore[union-attr]
    await rename(db_sessions, token, "after")
    assert (await verifier.verify(token)).name == "after"  # type: ignore[union-attr]


async def test_unknown_token_is_not_remembered(db_sessions: SessionFactory) -> None:
    # A token stored after a failed attempt works at once.
    token = "sgt_" + "B" * 43
    verifier = TokenVerifier(db_sessions, cache_s=5.0, clock=FakeClock())
    assert await verifier.verify(token) is None
    async with db_sessions.begin() as session:
        session.add(ApiToken(name="late", role=TokenRole.STAFF, token_hash=hash_token(token)))
    assert await verifier.verify(token) is not None


async def test_revocation_committed_in_the_process_applies_at_once(
    db_sessions: SessionFactory,
) -> None:
    clock = FakeClock()
    verifiers = [TokenVerifier(db_sessions, cache_s=60.0, clock=clock) for _ in range(2)]
    token = await new_token(db_sessions, TokenRole.STAFF)
    other = await new_token(db_sessions, TokenRole.STAFF)
    for verifier in verifiers:
        assert await verifier.verify(token) is not None
        assert await verifier.verify(other) is not None
    async with db_sessions.begin() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        assert await revoke_token(session, row.id)
    for verifier in verifiers:
        assert await verifier.verify(token) is None
        assert await verifier.verify(other) is not None


async def test_revocation_rolled_back_changes_nothing(db_sessions: SessionFactory) -> None:
    verifier = TokenVerifier(db_sessions, cache_s=60.0, clock=FakeClock())
    token = await new_token(db_sessions, TokenRole.STAFF)
    assert await verifier.verify(token) is not None
    async with db_sessions() as session:
        row = await authenticate_token(session, token)
        assert row is not None
        assert await revoke_token(session, row.id)
        await session.rollback()
    assert await verifier.verify(token) is not None
    async with db_sessions() as session:
        assert await authenticate_token(session, token) is not None


async def test_revocation_by_another_process_applies_within_cache_s(
    db_sessions: SessionFactory,
) -> None:
    # Another process revokes with a plain UPDATE: nothing reaches this process's cache.
    clock = FakeClock()
    verifier = TokenVerifier(db_sessions, cache_s=5.0, clock=clock)
    token = await new_token(db_sessions, TokenRole.STAFF)
    assert await verifier.verify(token) is not None
    async with db_sessions.begin() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(revoked_at=datetime.now(UTC))
        )
    assert await verifier.verify(token) is not None
    clock.now += 5.0
    assert await verifier.verify(token) is None


async def test_the_cache_is_keyed_by_the_tokens_hash_never_the_token(
    db_sessions: SessionFactory,
) -> None:
    verifier = TokenVerifier(db_sessions, cache_s=5.0)
    token = await new_token(db_sessions, TokenRole.STAFF)
    assert await verifier.verify(token) is not None
    assert list(verifier._cache) == [hash_token(token)]


async def test_a_full_cache_starts_afresh(db_sessions: SessionFactory) -> None:
    verifier = TokenVerifier(db_sessions, cache_s=60.0, clock=FakeClock())
    first = await new_token(db_sessions, TokenRole.STAFF)
    await verifier.verify(first)
    filler = _Remembered(VerifiedToken(0, TokenRole.STAFF, ""), expires_at=2000.0)
    verifier._cache.update({str(n): filler for n in range(MAX_CACHED_TOKENS - 1)})
    second = await new_token(db_sessions, TokenRole.STAFF)
    await verifier.verify(second)
    assert list(verifier._cache) == [hash_token(second)]


async def test_requests_at_once_with_one_token_share_one_lookup(
    db_sessions: SessionFactory,
) -> None:
    verifier = TokenVerifier(db_sessions, cache_s=0.0)
    token = await new_token(db_sessions, TokenRole.STAFF, "shared")
    calls = 0
    look_up = verifier._look_up

    async def counted(key: str, token: str) -> VerifiedToken | None:
        nonlocal calls
        calls += 1
        return await look_up(key, token)

    verifier._look_up = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(verifier.verify(token) for _ in range(8)))
    assert {answer.name for answer in answers if answer is not None} == {"shared"}
    assert (len(answers), calls) == (8, 1)
