"""Text disguised from filters: invisible characters in words, bidi overrides,
mixed-script and look-alike words. Held, never rejected."""

from __future__ import annotations

import pytest

from secgate.checks.obfuscation import (
    MAX_REPORTED,
    Obfuscation,
    invisible_inside_words,
    lookalike_words,
    mixed_script_words,
    scripts_of,
)
from secgate.checks.verdict import MessageUnderCheck, Verdict


async def check(text: str) -> tuple[Verdict, list[str]]:
    result = await Obfuscation().check(MessageUnderCheck(sender="SHOP", text=text))
    return result.verdict, [f["finding"] for f in result.details.get("obfuscation", [])]


class TestInvisibleInsideWords:
    @pytest.mark.parametrize(
        "text",
        [
            "f\u200bree gift",  # zero-width space
            "Pay\u00adPal",  # soft hyphen
            "Pay\u200cPal",  # zero-width non-joiner between Latin letters
            "Pay\u200dPal",
            "cl\u2060aim",  # word joiner
            "fr\ufeffee",
            "f\u200b\u200bree",  # two in a row
            "48\u200b39",  # inside a number
            "حم\u200bار",  # zero-width space between Arabic letters
            "fr\U000e0041ee",  # a tag character
        ],
    )
    async def test_an_invisible_character_between_letters_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, ["invisible"])

    @pytest.mark.parametrize(
        "text",
        [
            "free\u200b gift",  # at a word's edge
            "\ufeffYour code is 4839",  # a byte-order mark at the start
            "می\u200cخواهم",  # Persian: ZWNJ between Arabic-script letters
            "لا\u200dم",  # ZWJ choosing a joined Arabic form
            "المبلغ\u200e12.500 د.ك",  # a bidi mark between Arabic and a number
            "KWD\u200e12.500",  # ...and between Latin and a number
            "المبلغ \u200f12.500\u200f د.ك",
            "I \u2764\ufe0f Kuwait",  # a variation selector after an emoji
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # an emoji sequence
            "الحساب\u2066 KW81CBKU0000000000001234560101\u2069 مفعل",  # an isolate
        ],
    )
    async def test_ordinary_uses_pass(self, text: str) -> None:
        assert await check(text) == (Verdict.PASS, [])

    @pytest.mark.parametrize("override", ["\u202e", "\u202d"])
    async def test_a_bidi_override_is_held_wherever_it_is(self, override: str) -> None:
        result = await Obfuscation().check(
            MessageUnderCheck(sender="SHOP", text=f"visit {override}moc.knb")
        )
        assert result.verdict is Verdict.HOLD
        assert result.reason == "bidirectional override reorders the text"

    async def test_the_reason_names_the_characters_and_words(self) -> None:
        result = await Obfuscation().check(
            MessageUnderCheck(sender="SHOP", text="claim your f\u200bree g\u00adift")
        )
        assert result.reason == "invisible characters inside words"
        assert result.details["obfuscation"] == [
            {
                "finding": "invisible",
                "characters": ["U+00AD SOFT HYPHEN", "U+200B ZERO WIDTH SPACE"],
                "words": ["free", "gift"],
            }
        ]

    def test_at_most_max_reported_are_reported(self) -> None:
        text = "a\u200b" * 10_000 + "a"
        assert len(invisible_inside_words(text)) == MAX_REPORTED


class TestMixedScriptWords:
    @pytest.mark.parametrize(
        "text",
        [
            "Раypal",  # Cyrillic Р and а
            "pаypal",
            "Αpple",  # Greek Alpha
            "Login to your Paypаl account",
            "раypal",
        ],
    )
    async def test_latin_mixed_with_another_script_in_a_word_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, ["mixed_script"])

    @pytest.mark.parametrize(
        "text",
        [
            "السلام عليكم الـOTP هو 1234",  # Arabic article on a Latin word
            "الOTP",
            "食べる",  # Han and Hiragana
            "café crème",
            "Привет, как дела?",  # Cyrillic alone
            "Καλημέρα",  # Greek alone
            "500\u00b5g tablets",  # the micro sign (read by NFKC as Greek mu) in a unit
            "5μm",
        ],
    )
    async def test_ordinary_words_pass(self, text: str) -> None:
        assert await check(text) == (Verdict.PASS, [])

    def test_the_mixed_words_are_named(self) -> None:
        assert mixed_script_words("Your Раypal and Αpple accounts") == ["Раypal", "Αpple"]

    def test_scripts_ignore_digits_and_punctuation(self) -> None:
        assert scripts_of("a1-б") == {"LATIN", "CYRILLIC"}


class TestLookalikeWords:
    async def test_a_cyrillic_word_that_reads_as_latin_in_latin_text_is_held(self) -> None:
        assert await check("Open your рау account today") == (
            Verdict.HOLD,
            ["lookalike_script"],
        )

    def test_words_of_fewer_than_three_letters_are_not_counted(self) -> None:
        assert lookalike_words("go to the ор office") == []

    def test_a_cyrillic_text_is_not_a_lookalike(self) -> None:
        assert lookalike_words("рос сор хор and") == []

    def test_a_cyrillic_word_with_letters_unlike_latin_is_not_a_lookalike(self) -> None:
        assert lookalike_words("Open your дом account") == []


class TestObfuscation:
    async def test_plain_text_passes(self) -> None:
        assert await check("Your code is 483920") == (Verdict.PASS, [])

    async def test_findings_are_listed_together(self) -> None:
        result = await Obfuscation().check(
            MessageUnderCheck(sender="SHOP", text="f\u200bree Раypal")
        )
        assert result.verdict is Verdict.HOLD
        assert result.reason == (
            "invisible characters inside words; words mixing letters of different scripts"
        )

    def test_it_needs_no_store_and_fails_closed(self) -> None:
        assert Obfuscation().fails == "closed"
