"""API tokens: shown once, stored as a SHA-256, refused once revoked or malformed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from secgate.auth.tokens import authenticate_token, create_token, revoke_token
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
