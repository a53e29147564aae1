from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from secgate.sms.numbers import (
    MAX_DIGITS,
    MAX_INPUT_CHARS,
    InvalidNumber,
    _with_country_code,
    normalize_msisdn,
)


def _example(region: str, kind: int) -> str:
    """A number phonenumbers' own metadata vouches for, as digits with country code."""
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return f"{number.country_code}{number.national_number}"


KW_MOBILE = _example("KW", PhoneNumberType.MOBILE)  # 96550012345
KW_LANDLINE = _example("KW", PhoneNumberType.FIXED_LINE)
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EASTERN_ARABIC_INDIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def test_kuwaiti_example_numbers_are_what_the_tests_assume() -> None:
    assert KW_MOBILE.startswith("965")
    assert len(KW_MOBILE) == 11
    assert KW_LANDLINE.startswith("965")


@pytest.mark.parametrize(
    "raw",
    [
        "96550000000",
        "+96550000000",
        "0096550000000",
        "+965 5000-0000",
        "00965 50000000",
        "(+965) 5000.0000",
        "+965\u00a05000\u00a00000",  # no-break spaces
        "\u200f+965 5000 0000\u200e",  # direction marks copied from right-to-left text
        "٩٦٥٥٠٠٠٠٠٠٠",  # Arabic-Indic digits
        "۹۶۵۵۰۰۰۰۰۰۰",  # Eastern Arabic-Indic digits
        "+٩٦٥ ٥٠٠٠ ٠٠٠٠",
        "＋９６５ ５０００ ００００",  # full-width forms
        "  96550000000  ",
    ],
)
def test_every_accepted_form_becomes_digits_with_country_code(raw: str) -> None:
    assert normalize_msisdn(raw) == "96550000000"


def test_metadata_example_mobile_is_accepted_in_each_digit_script() -> None:
    assert normalize_msisdn("+" + KW_MOBILE) == KW_MOBILE
    assert normalize_msisdn(KW_MOBILE.translate(ARABIC_INDIC)) == KW_MOBILE
    assert normalize_msisdn(KW_MOBILE.translate(EASTERN_ARABIC_INDIC)) == KW_MOBILE


def test_national_number_is_read_in_the_default_region() -> None:
    assert normalize_msisdn("5000 0000", default_region="KW") == "96550000000"
    assert normalize_msisdn("5000 0000", default_region="kw") == "96550000000"


def test_national_number_without_a_default_region_is_rejected() -> None:
    with pytest.raises(InvalidNumber):
        normalize_msisdn("5000 0000")


def test_number_with_country_code_wins_over_the_default_region() -> None:
    assert normalize_msisdn("96550000000", default_region="KW") == "96550000000"
    gb_mobile = _example("GB", PhoneNumberType.MOBILE)
    assert normalize_msisdn(gb_mobile, default_region="KW") == gb_mobile


def test_national_trunk_prefix_is_dropped() -> None:
    gb_mobile = _example("GB", PhoneNumberType.MOBILE)  # 447400123456
    national = "0" + gb_mobile.removeprefix("44")

    assert normalize_msisdn(national, default_region="GB") == gb_mobile


def test_fixed_line_or_mobile_numbers_are_accepted() -> None:
    # Where numbering plans cannot tell mobiles from landlines (North America).
    us_number = _example("US", PhoneNumberType.FIXED_LINE_OR_MOBILE)

    assert normalize_msisdn("+" + us_number) == us_number


def test_other_countries_mobiles_are_accepted() -> None:
    for region in ("SA", "AE", "BH", "QA", "OM", "EG", "IN"):
        mobile = _example(region, PhoneNumberType.MOBILE)
        assert normalize_msisdn("+" + mobile) == mobile


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "no digits"),
        ("   ", "no digits"),
        ("+", "no digits"),
        ("00", "no digits"),
        ("abc", "only digits"),
        ("+965 5000 000O", "only digits"),  # letter O for zero
        ("+965 5000 0000 ext 12", "only digits"),
        ("1-800-FLOWERS", "only digits"),
        ("+965+50000000", "only digits"),
        ("96550000000;", "only digits"),
    ],
)
def test_text_that_is_not_a_number_is_rejected_with_its_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        normalize_msisdn(raw)


def test_fifteen_digits_is_the_limit() -> None:
    with pytest.raises(InvalidNumber, match=f"more than {MAX_DIGITS} digits"):
        normalize_msisdn("9" * (MAX_DIGITS + 1))
    # 15 digits pass the length check and fail only as an invalid number.
    with pytest.raises(InvalidNumber, match="not a valid number"):
        normalize_msisdn("965" + "5" * (MAX_DIGITS - 3))


def test_overlong_input_is_rejected_before_parsing() -> None:
    padded = "+965 5000 0000".ljust(MAX_INPUT_CHARS + 1)

    with pytest.raises(InvalidNumber, match="longer than"):
        normalize_msisdn(padded)
    assert normalize_msisdn(padded[:MAX_INPUT_CHARS]) == "96550000000"


@pytest.mark.parametrize(
    "raw",
    [
        "+9655000000",  # one digit short
        "+965500000000",  # one digit long
        "+96510000000",  # no Kuwaiti number starts with 1 at this length
    ],
)
def test_wrong_length_or_range_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidNumber, match="not a valid number"):
        normalize_msisdn(raw)


def test_unknown_country_code_is_rejected() -> None:
    with pytest.raises(InvalidNumber, match="unknown country code"):
        normalize_msisdn("+0096550000000")


def test_landline_is_rejected() -> None:
    with pytest.raises(InvalidNumber, match="not a mobile number"):
        normalize_msisdn("+" + KW_LANDLINE)


def test_toll_free_number_is_rejected() -> None:
    toll_free = _example("KW", PhoneNumberType.TOLL_FREE)

    with pytest.raises(InvalidNumber, match="not a mobile number"):
        normalize_msisdn("+" + toll_free)


def test_invalid_number_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalize_msisdn("nope")


def test_a_number_of_known_type_is_exactly_a_valid_number() -> None:
    """normalize_msisdn reads `number_type(n) != UNKNOWN` as `is_valid_number(n)`. Both
    match n against the metadata of `region_code_for_number(n)`; is_valid_number also
    requires that region's country code to be n's, which holds for every region a
    country code maps to. Checked over all of phonenumbers' data, and on numbers."""
    for country_code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            if region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
                assert phonenumbers.country_code_for_valid_region(region) == country_code
    kinds = [v for k, v in vars(PhoneNumberType).items() if k.isupper()]
    checked = 0
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            digits = _example(region, kind)
            for variant in (digits, digits[:-1], digits + "0", digits[:-1] + "9"):
                number = phonenumbers.parse("+" + variant)
                known = phonenumbers.number_type(number) != PhoneNumberType.UNKNOWN
                assert known == phonenumbers.is_valid_number(number), variant
                checked += 1
    assert checked > 1000


def _parsed_or_fault(text: str) -> phonenumbers.PhoneNumber | int:
    try:
        return phonenumbers.parse(text)
    except phonenumbers.NumberParseException as exc:
        return exc.error_type


def test_the_quick_reading_is_what_parsing_gives() -> None:
    """A number with its country code is read without phonenumbers.parse when parsing
    would only split off the country code; it must then be exactly parse's number, and
    its E.164 form the digits as given. Over every country code (with and without a
    national prefix to strip), each region's example numbers and their neighbours,
    and short, long and 0-led digits."""
    samples = {"1", "12", "123", "0", "00", "012", "999", "9999", "96550", "965012345678"}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        samples.update(f"{code}{tail}" for tail in ("", "5", "05", "50", "0123456", "9" * 14))
    kinds = [v for k, v in vars(PhoneNumberType).items() if k.isupper()]
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in kinds:
            if phonenumbers.example_number_for_type(region, kind) is not None:
                digits = _example(region, kind)
                samples.update((digits, digits[:-1], digits + "0", digits[:-1] + "9"))
    quick = 0
    for digits in sorted(samples):
        number = _with_country_code(digits)
        if number is None:
            continue
        quick += 1
        assert number == _parsed_or_fault("+" + digits), digits
        assert phonenumbers.format_number(number, PhoneNumberFormat.E164) == "+" + digits
    assert quick > 1000  # most countries strip no national prefix
    assert _with_country_code(KW_MOBILE) is not None


def test_a_country_that_strips_a_national_prefix_is_parsed_in_full() -> None:
    # Argentina (54) drops its "0" and mobile "15" prefixes even after the country code.
    assert _with_country_code("5491123456789") is None
    assert normalize_msisdn("+54 9 11 2345-6789") == "5491123456789"
