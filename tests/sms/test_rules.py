"""The pre-charge rules of a send, each on its own (no stores needed).

The ERR028 rule (RecentNumbers) needs the hot state; it is tested here on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from secgate.hotstate.protocol import HotState
from secgate.settings import Settings
from secgate.sms.encoding import encode_info
from secgate.sms.rules import (
    CLAIM_BATCH,
    CheckResult,
    CountryActivation,
    Draft,
    EmptyMessage,
    HtmlContent,
    NumberClaim,
    NumberLimit,
    NumberReading,
    NumberValidity,
    PageLimit,
    RecentNumbers,
    SenderOwnership,
    SendingAccount,
    contains_html,
    default_checks,
    originator,
    read_numbers,
    region_of,
)

ACCOUNT = SendingAccount(
    id=1,
    mobile="96550000000",
    home_country="KW",
    activated_countries=frozenset({"KW"}),
    sender_ids=frozenset({"Kuwait", "SHOP-1"}),
    balance=100,
    low_balance_threshold=None,
)
SA_MOBILE = "966501234567"
GB_MOBILE = "447400123456"


def _draft(
    *,
    text: str = "Hello",
    sender: str = "Kuwait",
    numbers: tuple[str, ...] = ("96550000001",),
    limit: int = 200,
    **changes: Any,
) -> Draft:
    account = changes.pop("account", ACCOUNT)
    return Draft(
        account=account,
        sender=sender,
        originator=originator(account, sender),
        text=text,
        encoding=encode_info(text),
        numbers=read_numbers(numbers, account.home_country, limit),
        test=changes.pop("test", False),
        client_ip=changes.pop("client_ip", None),
    )


async def _run(check: Any, draft: Draft) -> CheckResult:
    result = await check.check(draft)
    assert isinstance(result, CheckResult)
    return result


def test_reference_numbers_are_what_the_tests_assume() -> None:
    for number, kind in [(SA_MOBILE, "SA"), (GB_MOBILE, "GB")]:
        parsed = phonenumbers.parse("+" + number)
        assert phonenumbers.region_code_for_number(parsed) == kind
        assert phonenumbers.number_type(parsed) == PhoneNumberType.MOBILE


# --- HTML ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<b>bold</b>",
        "click <a href=https://example.com>here</a>",
        '<a href="https://example.com">x',
        "<script>alert(1)</script>",
        "<SCRIPT>alert(1)",
        "line<br/>break",
        "line<br />break",
        "<br>",
        "<p >para",
        "end </div>",
        "<img src=x onerror=alert(1)>",
        "<!-- hidden",
        "<!DOCTYPE html>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&#60;b&#62;bold",
        "multi <a\nhref='x'>line</a>",
    ],
)
def test_html_tags_are_detected(text: str) -> None:
    assert contains_html(text)


@pytest.mark.parametrize(
    "text",
    [
        "a<b",
        "5 < 6 > 3",
        "<3",
        "I <3 you",
        "x<y>z",  # y is not an HTML element
        "Reply with <name>",
        "if a<b and c>d",  # attributes without a value: not a tag
        "Tom &amp; Jerry",
        "R&D and AT&T",
        "&lt;3",
        "<>",
        "< b>",
        "price: 10 <= 20 >= 5",
        "مرحبا <٣",
    ],
)
def test_text_that_only_looks_like_html_is_plain(text: str) -> None:
    assert not contains_html(text)


async def test_html_check_refuses_with_err027() -> None:
    assert (await _run(HtmlContent(), _draft(text="<b>hi</b>"))).code == "ERR027"
    assert not (await _run(HtmlContent(), _draft(text="5 < 6 > 3"))).refused


# --- empty and long messages --------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\r\n", "\u200b\u200f", " \u200e "])
async def test_blank_or_invisible_only_message_is_empty(text: str) -> None:
    result = await _run(EmptyMessage(), _draft(text=text))
    assert result.code == "ERR009"


@pytest.mark.parametrize("text", ["x", " . ", "٣"])
async def test_message_with_a_visible_character_is_not_empty(text: str) -> None:
    assert not (await _run(EmptyMessage(), _draft(text=text))).refused


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("a" * 918, False),  # 6 GSM-7 pages
        ("a" * 919, True),  # 7
        ("ب" * 402, False),  # 6 UCS-2 pages
        ("ب" * 403, True),  # 7
        ("a" * 152 + "€" + "a" * 764, True),  # 918 septets, but the escape pushes it to 7
    ],
)
async def test_page_limit_refuses_exactly_from_max_pages_plus_one(text: str, refused: bool) -> None:
    result = await _run(PageLimit(max_pages=6), _draft(text=text))
    assert result.refused is refused
    if refused:
        assert result.code == "ERR012"
        assert "7 pages" in result.reason


# --- sender ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Kuwait", "Kuwait"),
        ("SHOP-1", "SHOP-1"),
        ("96550000000", "96550000000"),
        ("+96550000000", "96550000000"),
        ("0096550000000", "96550000000"),
        ("KUWAIT", None),  # sender IDs are case-sensitive
        ("kuwait", None),
        ("Kuwait ", None),
        ("OTHER", None),
        ("96550000001", None),  # someone else's number
        ("50000000", None),  # own number, but not in international form
        ("", None),
    ],
)
def test_originator_is_a_registered_sender_id_or_the_own_mobile(
    sender: str, expected: str | None
) -> None:
    assert originator(ACCOUNT, sender) == expected


async def test_sender_check_refuses_an_unregistered_sender_with_err008() -> None:
    result = await _run(SenderOwnership(), _draft(sender="KUWAIT"))
    assert result.code == "ERR008"
    assert "'KUWAIT'" in result.reason
    assert not (await _run(SenderOwnership(), _draft(sender="+96550000000"))).refused


# --- numbers ----------------------------------------------------------------------------


def test_numbers_are_normalised_and_duplicates_collapse_in_order() -> None:
    reading = read_numbers(
        ["+965 5000 0002", "96550000001", "0096550000002", "٩٦٥٥٠٠٠٠٠٠١", "5000 0003"],
        "KW",
        200,
    )
    assert reading == NumberReading(
        given=5, limit=200, valid=("96550000002", "96550000001", "96550000003"), invalid=()
    )


def test_arabic_indic_and_eastern_arabic_indic_digits_are_read() -> None:
    reading = read_numbers(["٩٦٥٥٠٠٠٠٠٠١", "۹۶۵۵۰۰۰۰۰۰۲", "+٩٦٦٥٠١٢٣٤٥٦٧"], "KW", 200)
    assert reading.valid == ("96550000001", "96550000002", SA_MOBILE)


def test_national_numbers_are_read_in_the_default_region() -> None:
    assert read_numbers(["501234567"], "SA", 200).valid == (SA_MOBILE,)
    assert read_numbers(["50000001"], "KW", 200).valid == ("96550000001",)


def test_blank_entries_are_ignored() -> None:
    reading = read_numbers(["96550000001", "", "  "], "KW", 200)
    assert reading == NumberReading(given=1, limit=200, valid=("96550000001",))


def test_invalid_entries_are_kept_as_given() -> None:
    reading = read_numbers(["96550000001", "12", "abc", "96522000000"], "KW", 200)
    assert reading.valid == ("96550000001",)
    assert reading.invalid == ("12", "abc", "96522000000")  # the last is a landline


def test_numbers_over_the_limit_are_not_read() -> None:
    reading = read_numbers(["96550000001"] * 3, "KW", 2)
    assert reading == NumberReading(given=3, limit=2)


@pytest.mark.parametrize(("count", "refused"), [(199, False), (200, False), (201, True)])
async def test_number_limit_refuses_above_the_limit_with_err007(count: int, refused: bool) -> None:
    numbers = tuple(f"9655{i:07d}" for i in range(count))
    result = await _run(NumberLimit(), _draft(numbers=numbers, limit=200))
    assert result.refused is refused
    if refused:
        assert result.code == "ERR007"


async def test_duplicates_count_toward_the_number_limit_as_given() -> None:
    result = await _run(NumberLimit(), _draft(numbers=("96550000001",) * 201, limit=200))
    assert result.code == "ERR007"


async def test_no_valid_number_is_err006() -> None:
    assert (await _run(NumberValidity(), _draft(numbers=("12", "abc")))).code == "ERR006"
    assert (await _run(NumberValidity(), _draft(numbers=()))).code == "ERR006"


async def test_some_invalid_numbers_are_err025_naming_each() -> None:
    result = await _run(NumberValidity(), _draft(numbers=("96550000001", " 12 ", "abc")))
    assert result.code == "ERR025"
    assert result.reason.endswith(": 12, abc")


async def test_err025_shortens_a_long_invalid_entry() -> None:
    result = await _run(NumberValidity(), _draft(numbers=("96550000001", "x" * 100)))
    assert result.code == "ERR025"
    assert "x" * 100 not in result.reason
    assert "x" * 31 + "…" in result.reason


async def test_all_valid_numbers_pass_the_validity_check() -> None:
    assert not (await _run(NumberValidity(), _draft(numbers=("96550000001",)))).refused


# --- countries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("96550000001", "KW"),
        (SA_MOBILE, "SA"),
        (GB_MOBILE, "GB"),
        ("14155552671", "US"),  # +1 is shared: the number decides
        ("16135550123", "CA"),
    ],
)
def test_region_of_a_number(number: str, region: str) -> None:
    assert region_of(number) == region


async def test_number_outside_the_activated_countries_is_err026() -> None:
    result = await _run(CountryActivation(), _draft(numbers=("96550000001", SA_MOBILE)))
    assert result.code == "ERR026"
    assert f"{SA_MOBILE} (SA)" in result.reason
    assert "96550000001" not in result.reason


async def test_numbers_in_activated_countries_pass() -> None:
    account = replace(ACCOUNT, activated_countries=frozenset({"KW", "SA"}))
    draft = _draft(numbers=("96550000001", SA_MOBILE), account=account)
    assert not (await _run(CountryActivation(), draft)).refused


async def test_shared_calling_code_is_told_apart_by_region() -> None:
    account = replace(ACCOUNT, activated_countries=frozenset({"US"}))
    assert not (
        await _run(CountryActivation(), _draft(numbers=("14155552671",), account=account))
    ).refused
    result = await _run(CountryActivation(), _draft(numbers=("16135550123",), account=account))
    assert result.code == "ERR026"


# --- the order ------------------------------------------------------------------------------


async def _first_refusal(settings: Settings, draft: Draft) -> str | None:
    for check in default_checks(settings):
        result = await check.check(draft)
        if result.refused:
            return result.code
    return None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"text": "", "sender": "nope", "numbers": ("1",)}, "ERR009"),
        ({"text": "<b>x</b>" + "a" * 1000, "sender": "nope"}, "ERR027"),
        ({"text": "a" * 1000, "sender": "nope", "numbers": ("1",)}, "ERR012"),
        ({"sender": "nope", "numbers": ("1",) * 201}, "ERR008"),
        ({"numbers": ("1",) * 201}, "ERR007"),
        ({"numbers": ("1", SA_MOBILE)}, "ERR025"),
        ({"numbers": (SA_MOBILE,)}, "ERR026"),
        ({}, None),
    ],
)
async def test_default_checks_refuse_in_kwtsms_order(
    make_settings: Callable[..., Settings], changes: dict[str, Any], code: str | None
) -> None:
    assert await _first_refusal(make_settings(), _draft(**changes)) == code


# --- ERR028: RecentNumbers ----------------------------------------------------------------


async def test_claimed_number_is_refused_to_the_same_account_until_released(
    hot_state: HotState,
) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    first = await recent.claim(1, ["96550000001", "96550000002"], test=False, token=b"m1")
    assert not first.result.refused
    assert len(first.keys) == 2

    again = await recent.claim(1, ["96550000003", "96550000002"], test=False, token=b"m2")
    assert again.result.code == "ERR028"
    assert "96550000002" in again.result.reason
    assert "96550000003" not in again.result.reason
    assert again.result.retry_after_s == 5.0  # a client may try again after the window
    assert again.keys == ()
    # The refused claim gave back what it took: 96550000003 is free.
    assert not (await recent.claim(1, ["96550000003"], test=False, token=b"m3")).result.refused

    await recent.release(first)
    assert not (await recent.claim(1, ["96550000002"], test=False, token=b"m4")).result.refused


async def test_other_accounts_and_test_sends_claim_separately(hot_state: HotState) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    assert not (await recent.claim(1, ["96550000001"], test=False, token=b"a")).result.refused
    assert not (await recent.claim(2, ["96550000001"], test=False, token=b"b")).result.refused
    assert not (await recent.claim(1, ["96550000001"], test=True, token=b"c")).result.refused
    assert (await recent.claim(1, ["96550000001"], test=True, token=b"d")).result.code == "ERR028"


async def test_release_leaves_a_claim_taken_by_another_send(hot_state: HotState) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    mine = await recent.claim(1, ["96550000001"], test=False, token=b"mine")
    # Its claim expired and another send took the number: releasing must not free it.
    await hot_state.put(mine.keys[0], b"theirs", ttl_s=5.0)
    await recent.release(mine)
    assert (await recent.claim(1, ["96550000001"], test=False, token=b"x")).result.code == "ERR028"


async def test_every_number_of_a_large_send_is_claimed(hot_state: HotState) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    numbers = [f"9655{i:07d}" for i in range(250)]
    claim = await recent.claim(1, numbers, test=False, token=b"big")
    assert len(claim.keys) == 250
    refused = await recent.claim(1, numbers[-1:], test=False, token=b"late")
    assert refused.result.code == "ERR028"
    assert refused.result.reason.startswith(f"{numbers[-1]} was sent to within the last 5 seconds")


async def test_racing_claims_of_overlapping_numbers_let_one_send_hold_them(
    hot_state: HotState,
) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    sends = [[f"9655000{n:04d}", "96550009999"] for n in range(10)]
    claims = await asyncio.gather(
        *(
            recent.claim(1, numbers, test=False, token=str(n).encode())
            for n, numbers in enumerate(sends)
        )
    )
    passed = [n for n, claim in enumerate(claims) if not claim.result.refused]
    assert len(passed) == 1
    assert all(claims[n].result.code == "ERR028" for n in range(10) if n not in passed)
    # The losers hold nothing: their own numbers are free.
    for n in range(10):
        if n not in passed:
            assert not (await recent.claim(1, sends[n][:1], test=False, token=b"x")).result.refused


async def test_a_send_refused_past_the_first_batch_gives_back_the_batches_it_took(
    hot_state: HotState,
) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    numbers = [f"9655{i:07d}" for i in range(CLAIM_BATCH + 5)]
    await recent.claim(1, numbers[-1:], test=False, token=b"earlier")
    refused = await recent.claim(1, numbers, test=False, token=b"big")
    assert refused.result.code == "ERR028"
    assert refused.result.reason.startswith(numbers[-1])
    claim = await recent.claim(1, numbers[:-1], test=False, token=b"again")
    assert not claim.result.refused


async def test_release_gives_back_every_number_of_a_send_over_one_batch(
    hot_state: HotState,
) -> None:
    recent = RecentNumbers(hot_state, block_s=5.0)
    numbers = [f"9655{i:07d}" for i in range(CLAIM_BATCH + 5)]
    await recent.release(await recent.claim(1, numbers, test=False, token=b"big"))
    assert not (await recent.claim(1, numbers, test=False, token=b"again")).result.refused


async def test_hot_state_down_refuses_claims_with_err013(dead_hot: HotState) -> None:
    claim = await RecentNumbers(dead_hot, block_s=5.0).claim(
        1, ["96550000001"], test=False, token=b"t"
    )
    assert claim == NumberClaim(CheckResult("ERR013", "temporarily unable to accept messages"))
