"""Destination prefixes and countries of numbers."""

from __future__ import annotations

import pytest

from secgate.abuse.prefixes import count_destinations, country_code_of, destination_of


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("96551234567", "965"),  # Kuwait: three digits
        ("447700900123", "44"),  # United Kingdom: two
        ("201001234567", "20"),  # Egypt: two, though 201 would be a code's start elsewhere
        ("18765551234", "1"),  # the North American plan: one
        ("79161234567", "7"),
        ("80012345678", "800"),  # non-geographic (international freephone)
    ],
)
def test_the_country_code_is_the_calling_code_the_number_starts_with(
    number: str, code: str
) -> None:
    assert country_code_of(number) == code


def test_a_number_under_no_calling_code_gives_its_first_three_digits() -> None:
    # 999 is not assigned; such a number never passes normalisation, but must not break.
    assert country_code_of("99912345678") == "999"


@pytest.mark.parametrize(
    ("digits", "prefix"), [(3, "965512"), (4, "9655123"), (0, "965"), (20, "96551234567")]
)
def test_the_prefix_is_the_country_code_and_the_next_digits(digits: int, prefix: str) -> None:
    assert destination_of("96551234567", digits).prefix == prefix


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("96551234567", "KW"),
        ("966501234567", "SA"),
        ("18765551234", "JM"),  # +1 876: Jamaica, not the United States
        ("12025550123", "US"),
        ("447781123456", "GG"),  # Guernsey under +44
        ("447400123456", "GB"),
        ("447700900123", "ZZ"),  # Ofcom's range for drama: no country's number
        ("77012345678", "KZ"),  # Kazakhstan under +7
        ("79161234567", "RU"),
        ("80012345678", "001"),
    ],
)
def test_the_country_is_told_by_the_number_even_under_a_shared_code(
    number: str, country: str
) -> None:
    assert destination_of(number, 4).country == country


def test_numbers_are_counted_per_prefix_and_country_in_the_order_first_met() -> None:
    per_prefix, per_country = count_destinations(
        ["96651230001", "18765551234", "18765559999", "96551234567", "96651230002"], 4
    )
    assert list(per_prefix.items()) == [("9665123", 2), ("18765", 2), ("9655123", 1)]
    assert list(per_country.items()) == [("SA", 2), ("JM", 2), ("KW", 1)]
