"""The shared normaliser: what the content rules compare instead of the text as sent."""

from __future__ import annotations

import pytest

from secgate.checks.text_normalisation import (
    normalise,
    normalise_arabic,
    normalise_for_matching,
    skeleton,
)


class TestNormalise:
    def test_ascii_text_is_kept_as_it_is(self) -> None:
        assert normalise("Your code is 483920").text == "Your code is 483920"
        assert normalise("Your code is 483920").removed == ()

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ｆｒｅｅ", "free"),  # full-width
            ("𝐅𝐑𝐄𝐄", "FREE"),  # mathematical bold
            ("Ⓕree", "Free"),  # circled
            ("ﬁnal", "final"),  # ligature
            ("café", "café"),  # composed once (e + combining acute)
        ],
    )
    def test_compatibility_forms_become_plain_letters(self, text: str, expected: str) -> None:
        assert normalise(text).text == expected

    @pytest.mark.parametrize(
        "invisible",
        [
            "\u200b",  # zero-width space
            "\u200c",  # zero-width non-joiner
            "\u200d",  # zero-width joiner
            "\u00ad",  # soft hyphen
            "\u2060",  # word joiner
            "\ufeff",  # zero-width no-break space
            "\u202e",  # right-to-left override
            "\u2066",  # left-to-right isolate
            "\u200e",  # left-to-right mark
            "\u061c",  # Arabic letter mark
            "\u034f",  # combining grapheme joiner
            "\u3164",  # Hangul filler
            "\U000e0041",  # tag latin capital letter A
            "\ufe0f",  # variation selector 16
        ],
    )
    def test_invisible_characters_are_removed_and_recorded(self, invisible: str) -> None:
        result = normalise(f"f{invisible}ree{invisible}")
        assert result.text == "free"
        assert result.removed == (invisible,)

    def test_each_removed_character_is_recorded_once_in_order(self) -> None:
        assert normalise("a\u200db\u200bc\u200dd").removed == ("\u200d", "\u200b")

    def test_a_lone_surrogate_does_not_raise(self) -> None:
        assert normalise("a\ud800b").text == "a\ud800b"


class TestArabic:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("أحمد", "احمد"),  # alef with hamza above
            ("إسلام", "اسلام"),  # alef with hamza below
            ("آمن", "امن"),  # alef with madda
            ("ٱلله", "الله"),  # alef wasla
            ("مستشفى", "مستشفي"),  # alef maqsura
            ("مدرسة", "مدرسه"),  # ta marbuta
            ("حمـــار", "حمار"),  # tatweel
            ("مُحَمَّدٌ", "محمد"),  # harakat, shadda, tanween
            ("کتاب", "كتاب"),  # Persian keheh
            ("علی", "علي"),  # Persian ya
        ],
    )
    def test_spelling_variants_become_one(self, text: str, expected: str) -> None:
        assert normalise_arabic(text) == expected
        assert normalise(text).text == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("٠١٢٣٤٥٦٧٨٩", "0123456789"),  # Arabic-Indic
            ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),  # extended (Persian/Urdu)
            ("١٢٫٥٠٠", "12.500"),  # Arabic decimal separator
            ("١٬٢٠٠", "1,200"),  # Arabic thousands separator
        ],
    )
    def test_digits_become_ascii(self, text: str, expected: str) -> None:
        assert normalise(text).text == expected

    def test_presentation_forms_become_letters(self) -> None:
        assert normalise("ﻛﻠﺐ").text == "كلب"


class TestNormaliseForMatching:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("FREE", "free"),
            ("fr33 c4sh", "free cash"),
            ("a$$", "ass"),
            ("@ss", "ass"),
            ("v!agra", "viagra"),
            ("sh1t", "shit"),  # "1" is read as "i"; word lists take i and l as one
            ("h3ll0", "hello"),
            ("5ex", "sex"),
        ],
    )
    def test_leetspeak_in_words_is_undone(self, text: str, expected: str) -> None:
        assert normalise_for_matching(text) == expected

    @pytest.mark.parametrize(
        "text",
        ["483920", "KWD 12.500", "call 1801801", "$100", "50% off", "4821"],
    )
    def test_numbers_are_left_alone(self, text: str) -> None:
        assert normalise_for_matching(text) == text.lower()

    def test_an_exclamation_mark_ending_a_word_is_punctuation(self) -> None:
        assert normalise_for_matching("sh!t!") == "shit!"
        assert normalise_for_matching("Hello!") == "hello!"

    def test_everything_else_of_normalise_applies(self) -> None:
        assert normalise_for_matching("Ｆ\u200bＲＥＥ مُحَمَّد") == "free محمد"


class TestSkeleton:
    @pytest.mark.parametrize(
        ("lookalike", "original"),
        [
            ("nbк", "nbk"),  # Cyrillic ka
            ("Раypal", "paypal"),  # Cyrillic Er and a
            ("ΡΑΥΡΑL", "paypal"),  # Greek capitals
            ("0OREDOO", "ooredoo"),  # zero for O
            ("N8K", "nbk"),  # eight for B
            ("Z4IN", "zain"),  # four for A
            ("paypa1", "paypal"),  # one for l
            ("paypaI", "paypal"),  # capital i for l
            ("rnicrosoft", "microsoft"),  # rn for m
            ("vvarba", "warba"),  # vv for w
            ("n\u200bbk", "nbk"),  # invisible characters
            ("ｎｂｋ", "nbk"),  # full-width
        ],
    )
    def test_lookalikes_share_the_skeleton(self, lookalike: str, original: str) -> None:
        assert skeleton(lookalike) == skeleton(original)

    @pytest.mark.parametrize(("a", "b"), [("kfh", "kfc"), ("nbk", "abk"), ("stc", "etc")])
    def test_different_names_keep_different_skeletons(self, a: str, b: str) -> None:
        assert skeleton(a) != skeleton(b)

    def test_separators_are_kept(self) -> None:
        assert skeleton("n-b-k") == "n-b-k"
