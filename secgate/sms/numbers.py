"""Mobile numbers (MSISDNs) in the one form the platform stores and sends to.

The form is digits only, country code first, no "+" or "00" (e.g. 96550000000),
as the platform's help page asks of customers. Input arrives in every shape
people type: spaces and dashes, "+" or "00" in front, Arabic-Indic digits
(٠-٩) or Eastern Arabic-Indic ones (۰-۹), invisible direction marks copied
from right-to-left text. All of it is accepted; what comes out is validated
with `phonenumbers` and must be a number that can receive an SMS.
"""

from __future__ import annotations

import functools
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

# E.164: at most 15 digits, country code included.
MAX_DIGITS = 15
# Longer input is not a phone number however it is punctuated; refuse it before parsing.
MAX_INPUT_CHARS = 64

# Punctuation people put between digit groups; dropped before parsing.
_SEPARATORS = frozenset(" -.()/")
_SMS_CAPABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_PARSE_FAULTS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


class InvalidNumber(ValueError):
    """The text is not a mobile number; the message says why."""


def normalize_msisdn(raw: str, default_region: str | None = None) -> str:
    """Return `raw` as digits with country code, or raise InvalidNumber.

    A number written without "+" or "00" is read first as already carrying its
    country code (the platform's own form); only if it is not valid that way, and
    `default_region` (ISO 3166-1 alpha-2, e.g. "KW") is given, as a national number
    of that region.
    """
    if len(raw) > MAX_INPUT_CHARS:
        raise InvalidNumber(f"longer than {MAX_INPUT_CHARS} characters")
    # Most numbers arrive as plain ASCII digits, which _ascii_digits would give back as they are.
    text = raw if raw.isdigit() and raw.isascii() else _ascii_digits(raw)
    if text.startswith("+"):
        digits, written_international = text[1:], True
    elif text.startswith("00"):
        digits, written_international = text[2:], True
    else:
        digits, written_international = text, False
    if not digits:
        raise InvalidNumber("no digits")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidNumber("only digits, spaces, dashes, dots, brackets and a leading + allowed")
    if len(digits) > MAX_DIGITS:
        raise InvalidNumber(f"more than {MAX_DIGITS} digits")

    number, kind = _read(digits, None if written_international else default_region)
    if kind not in _SMS_CAPABLE:
        raise InvalidNumber("not a mobile number")
    if number is None:
        # Read by _with_country_code: E.164 is the digits as given.
        return digits
    return phonenumbers.format_number(number, PhoneNumberFormat.E164).removeprefix("+")


def _ascii_digits(raw: str) -> str:
    """Full-width forms folded (NFKC), every decimal digit made ASCII, separators
    and invisible format characters (direction marks) dropped."""
    out = []
    for char in unicodedata.normalize("NFKC", raw):
        digit = unicodedata.decimal(char, None)
        if digit is not None:
            out.append(str(digit))
        elif char in _SEPARATORS or char.isspace() or unicodedata.category(char) == "Cf":
            continue
        else:
            out.append(char)
    return "".join(out)


def _read(digits: str, default_region: str | None) -> tuple[phonenumbers.PhoneNumber | None, int]:
    """The first valid reading of `digits` and its PhoneNumberType: with their country
    code, else as a national number of `default_region`. Raises with the first
    reading's fault. The number is None when it was read by `_with_country_code`:
    its E.164 form is then `digits` itself.

    A reading is valid when its type is known: `number_type` is UNKNOWN exactly when
    `is_valid_number` is false (both match the number against the metadata of
    `region_code_for_number`; is_valid_number's one more condition, that this
    region's country code is the number's, holds for every region the country code
    maps to: tests/sms/test_numbers.py checks that over all of phonenumbers' data).
    So the type is worked out once, not once to validate and again to classify.
    """
    # The platform's own form, as nearly every number of a bulk send comes: the
    # PhoneNumber built directly (phonenumbers.parse costs some 25 µs a number).
    quick = _with_country_code(digits)
    if quick is not None:
        kind = phonenumbers.number_type(quick)
        if kind != PhoneNumberType.UNKNOWN:
            return None, kind
    readings: list[tuple[str, str | None]] = [("+" + digits, None)]
    if default_region:
        readings.append((digits, default_region.upper()))
    faults = []
    for text, region in readings:
        try:
            number = phonenumbers.parse(text, region)
        except NumberParseException as exc:
            faults.append(_PARSE_FAULTS.get(exc.error_type, "not a phone number"))
            continue
        kind = phonenumbers.number_type(number)
        if kind != PhoneNumberType.UNKNOWN:
            return number, kind
        faults.append("not a valid number (check the country code and length)")
    raise InvalidNumber(faults[0])


def _with_country_code(digits: str) -> phonenumbers.PhoneNumber | None:
    """What `phonenumbers.parse("+" + digits)` gives for ASCII digits, when the
    digits are in the plain case where parsing does nothing but split off the country
    code: None for every other case (parse then decides, with its faults).

    The plain case: at least three digits (fewer is not a number to parse), a known
    country code, a national number of 2 to 17 digits not starting with 0 (no
    Italian leading zero to record), in a country whose metadata strips no national
    prefix. tests/sms/test_numbers.py compares it with parse over every country code.
    """
    if len(digits) < 3:
        return None
    code = _country_code_at(digits[:3])
    if code is None:
        return None
    national = digits[len(code) :]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    return phonenumbers.PhoneNumber(country_code=int(code), national_number=int(national))


@functools.lru_cache(maxsize=1024)
def _country_code_at(leading: str) -> str | None:
    """The country code `leading` (the first three digits) starts with, when numbers
    under it need no more of parsing than splitting it off; else None."""
    if leading[0] == "0":
        return None
    for length in (1, 2, 3):
        code = int(leading[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(
                code, phonenumbers.region_code_for_country_code(code)
            )
            if metadata is None or metadata.national_prefix_for_parsing:
                return None
            return leading[:length]
    return None
