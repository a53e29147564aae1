"""GSM-7 / UCS-2 detection and page counts (160/153 septets, 70/67 UTF-16 code units)."""

from __future__ import annotations

import pytest

from secgate.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MessageEncoding,
    encode_info,
)

EXTENSION_CHARS = "€{}[]~\\|^"


def test_empty_text_is_gsm7_with_no_pages() -> None:
    assert encode_info("") == MessageEncoding("gsm7", 0, 0)


def test_default_alphabet_has_its_127_characters_and_no_escape() -> None:
    assert len(GSM7_BASIC) == 127
    assert "\x1b" not in GSM7_BASIC
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENSION)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, World! 0123456789",
        "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ",
        "¡ÄÖÑÜ§¿äöñüà",
        "line one\nline two\r\n",
        " !\"#¤%&'()*+,-./:;<=>?",
    ],
)
def test_text_of_the_default_alphabet_is_gsm7_one_septet_a_character(text: str) -> None:
    assert encode_info(text) == MessageEncoding("gsm7", len(text), 1)


@pytest.mark.parametrize("char", list(EXTENSION_CHARS))
def test_extension_character_is_gsm7_and_counts_two_septets(char: str) -> None:
    assert encode_info(char) == MessageEncoding("gsm7", 2, 1)
    assert encode_info("a" + char + "b").units == 4


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("tab\there", "tab is not in the GSM alphabet"),
        ("ç", "lower-case c cedilla is not (only Ç is)"),
        ("naïve", "ï is not in the GSM alphabet"),
        ("`", "backtick is not in the GSM alphabet"),
        ("مرحبا", "Arabic"),
    ],
)
def test_a_character_outside_gsm7_makes_the_text_ucs2(text: str, why: str) -> None:
    assert encode_info(text).encoding == "ucs2", why


def test_arabic_text_is_ucs2_one_unit_a_character() -> None:
    text = "مرحبا بكم في الكويت"
    assert encode_info(text) == MessageEncoding("ucs2", len(text), 1)


@pytest.mark.parametrize(
    ("length", "pages"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (918, 6)],
)
def test_gsm7_fits_160_in_one_page_then_153_a_page(length: int, pages: int) -> None:
    assert encode_info("a" * length) == MessageEncoding("gsm7", length, pages)


def test_extension_characters_count_twice_toward_the_single_page_limit() -> None:
    assert encode_info("€" * 80) == MessageEncoding("gsm7", 160, 1)
    assert encode_info("a" + "€" * 80) == MessageEncoding("gsm7", 161, 2)


def test_escape_is_never_split_across_pages() -> None:
    # 152 septets, then "€" would take septets 153 and 154: it moves whole to page 2.
    text = "a" * 152 + "€" + "a" * 152
    assert encode_info(text) == MessageEncoding("gsm7", 306, 3)
    # Ending exactly on the page boundary needs no move.
    fits = "a" * 151 + "€" + "a" * 153
    assert encode_info(fits) == MessageEncoding("gsm7", 306, 2)


@pytest.mark.parametrize(
    ("length", "pages"),
    [(1, 1), (69, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (402, 6)],
)
def test_ucs2_fits_70_in_one_page_then_67_a_page(length: int, pages: int) -> None:
    assert encode_info("ب" * length) == MessageEncoding("ucs2", length, pages)


def test_emoji_outside_the_bmp_counts_two_code_units() -> None:
    assert encode_info("😀") == MessageEncoding("ucs2", 2, 1)
    assert encode_info("😀" * 35) == MessageEncoding("ucs2", 70, 1)
    assert encode_info("😀" * 35 + "a") == MessageEncoding("ucs2", 71, 2)


def test_surrogate_pair_is_never_split_across_pages() -> None:
    # 66 units, then the emoji would take units 67 and 68: it moves whole to page 2.
    text = "ب" * 66 + "😀" + "ب" * 66
    assert encode_info(text) == MessageEncoding("ucs2", 134, 3)
    fits = "ب" * 65 + "😀" + "ب" * 67
    assert encode_info(fits) == MessageEncoding("ucs2", 134, 2)


def test_one_non_gsm_character_turns_a_long_text_to_ucs2_pages() -> None:
    # 100 characters would fit one GSM-7 page; as UCS-2 they need two.
    assert encode_info("a" * 99 + "ç") == MessageEncoding("ucs2", 100, 2)
