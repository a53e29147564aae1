from __future__ import annotations

import asyncio
from collections.abc import Callable

import argon2
import pytest

from secgate.auth.passwords import PasswordHasher
from secgate.settings import Settings

# Small parameters keep the tests fast; production ones come from Settings' defaults.
FAST = {"argon2_time_cost": 1, "argon2_memory_kib": 256, "argon2_parallelism": 1}


@pytest.fixture
def hasher(make_settings: Callable[..., Settings]) -> PasswordHasher:
    return PasswordHasher(make_settings(**FAST))


async def test_hash_is_argon2id_with_the_configured_parameters(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse")

    params = argon2.extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert (params.time_cost, params.memory_cost, params.parallelism) == (1, 256, 1)


async def test_the_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert await hasher.hash("correct horse") != await hasher.hash("correct horse")


async def test_right_password_verifies_without_rehash(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse")

    result = await hasher.verify(stored, "correct horse")

    assert result.ok
    assert result.new_hash is None


async def test_wrong_password_is_denied(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse")

    result = await hasher.verify(stored, "correct horsE")

    assert not result.ok
    assert result.new_hash is None


async def test_password_typed_composed_or_decomposed_verifies_both_ways(
    hasher: PasswordHasher,
) -> None:
    stored = await hasher.hash("caf\u00e9 au lait")  # é as one code point

    assert (await hasher.verify(stored, "cafe\u0301 au lait")).ok  # e + combining accent


async def test_changed_parameters_rehash_on_successful_verify(
    make_settings: Callable[..., Settings],
) -> None:
    old = PasswordHasher(make_settings(**FAST))
    new = PasswordHasher(make_settings(**{**FAST, "argon2_time_cost": 2, "argon2_memory_kib": 512}))
    stored = await old.hash("correct horse")

    result = await new.verify(stored, "correct horse")

    assert result.ok
    assert result.new_hash is not None
    params = argon2.extract_parameters(result.new_hash)
    assert (params.time_cost, params.memory_cost) == (2, 512)
    again = await new.verify(result.new_hash, "correct horse")
    assert again.ok
    assert again.new_hash is None


async def test_changed_parameters_give_no_new_hash_for_a_wrong_password(
    make_settings: Callable[..., Settings],
) -> None:
    old = PasswordHasher(make_settings(**FAST))
    new = PasswordHasher(make_settings(**{**FAST, "argon2_time_cost": 2}))
    stored = await old.hash("correct horse")

    result = await new.verify(stored, "wrong horse")

    assert not result.ok
    assert result.new_hash is None


async def test_hash_of_another_argon2_variant_is_rehashed_to_argon2id(
    hasher: PasswordHasher,
) -> None:
    argon2i = argon2.PasswordHasher(
        time_cost=1, memory_cost=256, parallelism=1, type=argon2.Type.I
    ).hash("correct horse")

    result = await hasher.verify(argon2i, "correct horse")

    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuv",  # bcrypt
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdA",  # digest missing
        "$argon2id$v=19$m=256,t=1,p=1$!!!!$!!!!",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$é",  # not ASCII
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHRzYWx0$c2FsdHNhbHRzYWx0",  # memory too small
        "$argon2id$v=19$m=256,t=1,p=1$$c2FsdHNhbHRzYWx0",  # salt missing
    ],
)
async def test_malformed_stored_hash_is_denied_not_raised(
    hasher: PasswordHasher, stored: str
) -> None:
    result = await hasher.verify(stored, "correct horse")

    assert not result.ok
    assert result.new_hash is None


async def test_dummy_verification_accepts_nothing(hasher: PasswordHasher) -> None:
    assert await hasher.verify_dummy("correct horse") is None
    assert await hasher.verify_dummy("") is None


async def test_dummy_verification_does_a_real_verification_at_current_parameters(
    hasher: PasswordHasher,
) -> None:
    # What makes its cost equal to a real one: the hash it verifies against is a
    # well-formed argon2id hash with exactly the current parameters.
    dummy = hasher._dummy_hash
    current = argon2.PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)

    assert not current.check_needs_rehash(dummy)
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        current.verify(dummy, "correct horse")


async def test_hashing_leaves_the_event_loop_free(make_settings: Callable[..., Settings]) -> None:
    # Parameters heavy enough that hashing on the loop would starve the ticker.
    hasher = PasswordHasher(
        make_settings(argon2_time_cost=1, argon2_memory_kib=16 * 1024, argon2_parallelism=1)
    )
    ticks = 0
    hashing_done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not hashing_done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    ticks_before = ticks
    stored = await asyncio.gather(*(hasher.hash(f"password {i}") for i in range(4)))
    await hasher.verify(stored[0], "password 0")
    hashing_done.set()
    await ticking

    # Run on the loop, the hashes would leave the ticker no turn until they finish.
    assert ticks - ticks_before > 100
