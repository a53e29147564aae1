"""ERR031: bad language in English and Arabic, as whole words, through disguises."""

from __future__ import annotations

import pytest

from secgate.checks.bad_language import BadLanguage, WordList, load_word_list
from secgate.checks.verdict import MessageUnderCheck, Verdict
from secgate.settings import Settings

SETTINGS = Settings()
SHIPPED = load_word_list(SETTINGS.bad_words_en_file, SETTINGS.bad_words_ar_file)


def message(text: str) -> MessageUnderCheck:
    return MessageUnderCheck(sender="SHOP", text=text)


class TestShippedLists:
    def test_each_list_holds_a_moderate_number_of_entries(self) -> None:
        for path in (SETTINGS.bad_words_en_file, SETTINGS.bad_words_ar_file):
            assert 50 <= len(load_word_list(path).entries) <= 150

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ("fuck", "fuck"),
            ("What the FUCK", "fuck"),
            ("you are an asshole", "asshole"),
            ("son of a bitch", "son of a bitch"),
        ],
    )
    def test_listed_english_words_are_found(self, text: str, found: str) -> None:
        assert found in SHIPPED.find(text)

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ("شرموطة", "شرموطه"),  # entries are kept normalised (ة as ه)
            ("يا حمار", "يا حمار"),
            ("كس امك", "كس امك"),
        ],
    )
    def test_listed_arabic_words_are_found(self, text: str, found: str) -> None:
        assert found in SHIPPED.find(text)


class TestWholeWords:
    @pytest.mark.parametrize(
        "text",
        [
            "Scunthorpe",
            "class",
            "assessment",
            "cocktail",
            "Essex",
            "Sussex",
            "passion",
            "assistant",
            "cumin",
            "Dick Smith Electronics",  # a name; "dick" alone is not listed
            "Hancock",
            "shitake mushrooms",
            "as soon as possible",  # "as" is not "ass"
        ],
    )
    def test_a_listed_word_inside_a_longer_word_is_not_found(self, text: str) -> None:
        assert SHIPPED.find(text) == []

    @pytest.mark.parametrize(
        "text",
        [
            "عكس",  # opposite: contains كس
            "مكسب",  # profit
            "كسر",  # break
            "زبون",  # customer: contains زب
            "عزيزي الزبون",
            "زبائن",
            "زبدة",  # butter
            "زبيب",  # raisins
            "الآخرة",  # the hereafter: contains خر
            "أخرى",
            "خراب",
            "نيكل",  # nickel
            "كلب",  # dog: only "يا كلب" is listed
            "الكلب",
            "حمار",
            "كسه",  # a two-letter entry takes no endings
        ],
    )
    def test_arabic_words_containing_a_listed_word_are_not_found(self, text: str) -> None:
        assert SHIPPED.find(text) == []


class TestDisguises:
    @pytest.mark.parametrize(
        "text",
        [
            "fuuuuuck",
            "FFFUUUCCCKKK",
            "f.u.c.k",
            "f u c k",
            "f-u-c-k",
            "f_u_c_k",
            "f . u . c . k",  # three separator characters between letters
            "f*ck",
            "f**k",
            "fu\u200bck",  # invisible character
            "ｆｕｃｋ",
            "𝐟𝐮𝐜𝐤",
        ],
    )
    def test_disguised_spellings_are_found(self, text: str) -> None:
        assert SHIPPED.find(text) == ["fuck"]

    @pytest.mark.parametrize(
        ("text", "found"),
        [("sh1t", "shit"), ("sh!t", "shit"), ("a$$", "ass"), ("@ss", "ass"), ("b1tch", "bitch")],
    )
    def test_leetspeak_is_found(self, text: str, found: str) -> None:
        assert SHIPPED.find(text) == [found]

    def test_four_separator_characters_no_longer_join_letters(self) -> None:
        assert SHIPPED.find("f .. u .. c .. k") == []

    def test_two_spelled_out_letters_are_not_a_word(self) -> None:
        assert SHIPPED.find("a s") == []

    def test_letters_are_repeated_never_dropped(self) -> None:
        assert SHIPPED.find("asss") == ["ass"]
        assert SHIPPED.find("as") == []

    def test_more_asterisks_than_letters_is_not_read_as_a_word(self) -> None:
        assert SHIPPED.find("f***") == []
        assert SHIPPED.find("**** 4821") == []

    def test_a_phrase_written_as_one_word_is_found(self) -> None:
        assert SHIPPED.find("fuckyou") == ["fuck you"]

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ("يا حمـــار", "يا حمار"),  # tatweel
            ("يا حمااااار", "يا حمار"),  # repeated letters
            ("ياحمار", "يا حمار"),  # vocative attached
            ("ياكس", "كس"),
            ("وشرموطة", "شرموطه"),  # conjunction
            ("الشرموطة", "شرموطه"),  # article
            ("طيزك", "طيز"),  # pronoun ending
            ("شَرْمُوطَة", "شرموطه"),  # diacritics
            ("ش ر م و ط ة", "شرموطه"),  # spelled out
        ],
    )
    def test_arabic_variants_are_found(self, text: str, found: str) -> None:
        assert found in SHIPPED.find(text)


class TestWordList:
    def test_comments_blank_lines_and_repeats_are_ignored(self) -> None:
        words = WordList.of(["# a comment", "", "  ", "...", "darn  # mild", "DARN", "heck"])
        assert words.entries == ("darn", "heck")

    def test_entries_are_normalised_like_messages(self) -> None:
        words = WordList.of(["مدرسة"])
        assert words.find("مدرسه") == ["مدرسه"]
        assert words.find("مَدْرَسَة") == ["مدرسه"]

    def test_each_entry_is_reported_once_in_order(self) -> None:
        words = WordList.of(["darn", "heck"])
        assert words.find("heck darn heck") == ["heck", "darn"]

    def test_an_empty_list_finds_nothing(self) -> None:
        assert WordList.of([]).find("anything at all") == []


class TestBadLanguage:
    async def test_bad_language_is_rejected_with_err031_naming_the_words(self) -> None:
        result = await BadLanguage(SHIPPED).check(message("You are a f*cking idiot"))
        assert (result.verdict, result.code) == (Verdict.REJECT, "ERR031")
        assert result.check == "bad_language"
        assert set(result.details["words"]) == {"fucking", "idiot"}

    async def test_clean_text_passes(self) -> None:
        result = await BadLanguage(SHIPPED).check(message("Your code is 483920"))
        assert result.verdict is Verdict.PASS

    def test_it_needs_no_store_and_fails_closed(self) -> None:
        assert BadLanguage(SHIPPED).fails == "closed"
