"""Where a number goes: its country and its destination prefix.

A destination prefix is the country calling code and the first few digits of the
national number after it (`SECGATE_PUMPING_PREFIX_DIGITS`, 4 by default): 965 5123 for
96551234567, 44 7700 for 447700900123. SMS pumping buys traffic to ranges of numbers
an operator pays out on, and such a range sits under one prefix of this length.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

# Digits of the national number that tell apart the countries sharing a calling code
# (an area code of +1, the ranges of Jersey, Guernsey and Man under +44, Kazakhstan
# under +7): the first number seen with a calling code and these digits is parsed,
# and its country kept for the others.
_COUNTRY_DIGITS = 6
_SHARED_CODE_COUNTRIES: dict[str, str] = {}
_MAX_CACHED = 16384


@dataclass(frozen=True, slots=True)
class Destination:
    number: str  # normalised MSISDN: digits, country code first
    country_code: str  # calling code, e.g. "965"
    country: str  # ISO 3166-1 alpha-2, "001" for non-geographic numbers, "ZZ" unknown
    prefix: str  # country code + the first `digits` digits after it


def country_code_of(msisdn: str) -> str:
    """The calling code a normalised number starts with. Calling codes are prefix-free
    and at most three digits, so the first three digits decide. A number under no code
    (not normalised) gives its first three digits."""
    return _code_of_leading(msisdn[:3])


@functools.lru_cache(maxsize=1024)
def _code_of_leading(leading: str) -> str:
    for length in (1, 2, 3):
        if int(leading[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return leading[:length]
    return leading


def destination_of(msisdn: str, prefix_digits: int) -> Destination:
    code = country_code_of(msisdn)
    return Destination(
        number=msisdn,
        country_code=code,
        country=_country(code, msisdn),
        prefix=msisdn[: len(code) + prefix_digits],
    )


def count_destinations(
    numbers: Iterable[str], prefix_digits: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Numbers per prefix and per country, in the order first met: what a send of
    thousands of numbers needs, without a Destination for each."""
    per_prefix: dict[str, int] = {}
    per_country: dict[str, int] = {}
    for number in numbers:
        code = _code_of_leading(number[:3])
        prefix = number[: len(code) + prefix_digits]
        per_prefix[prefix] = per_prefix.get(prefix, 0) + 1
        country = _country(code, number)
        per_country[country] = per_country.get(country, 0) + 1
    return per_prefix, per_country


@functools.lru_cache(maxsize=1024)
def _regions_of_code(code: str) -> tuple[str, ...]:
    return tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code), ()))


def _country(code: str, msisdn: str) -> str:
    regions = _regions_of_code(code)
    if len(regions) == 1:
        return regions[0]
    if not regions:
        return "ZZ"
    # A shared code: the number tells, by its leading digits. Parsing costs some 50 µs,
    # so the answer is kept per code and leading digits.
    leading = msisdn[: len(code) + _COUNTRY_DIGITS]
    country = _SHARED_CODE_COUNTRIES.get(leading)
    if country is None:
        try:
            found = phonenumbers.region_code_for_number(phonenumbers.parse("+" + msisdn))
        except phonenumbers.NumberParseException:
            found = None
        country = found or "ZZ"
        if len(_SHARED_CODE_COUNTRIES) >= _MAX_CACHED:
            _SHARED_CODE_COUNTRIES.clear()
        _SHARED_CODE_COUNTRIES[leading] = country
    return country
