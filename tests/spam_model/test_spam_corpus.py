"""Labelled files: reading them, twins removed before the split, the split itself."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from secgate.spam_model.corpus import (
    SPLIT_SEED,
    CorpusError,
    LabelledMessage,
    deduplicate,
    duplicate_key,
    parse_labelled,
    read_labelled,
    read_supplement,
    split,
    write_labelled,
)

COLLECTION = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "sms-spam-collection"
    / "SMSSpamCollection"
)


def ham(text: str) -> LabelledMessage:
    return LabelledMessage(False, text)


def spam(text: str) -> LabelledMessage:
    return LabelledMessage(True, text)


class TestReading:
    def test_reads_labels_texts_and_line_numbers(self) -> None:
        messages = parse_labelled(b"ham\tSee you at 5\nspam\tWIN a prize!\tnow\r\n")
        assert messages == [
            LabelledMessage(False, "See you at 5", 1),
            LabelledMessage(True, "WIN a prize!\tnow", 2),  # a TAB in the text is text
        ]

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            (b"ham\tok\nspam no tab\n", "line 2: no TAB between label and text"),
            (b"ham\tok\nSPAM\tWIN\n", "line 2: label 'SPAM' is neither 'ham' nor 'spam'"),
            (b"ham\tok\nham\t  \n", "line 2: empty text"),
            (b"ham\tok\nham\t\xff\xfe\n", "line 2: not UTF-8"),
            (b"\n", "line 1: no TAB"),
            (b"", "no labelled message"),
        ],
    )
    def test_a_malformed_file_is_refused_naming_the_line(self, data: bytes, problem: str) -> None:
        with pytest.raises(CorpusError, match=problem):
            parse_labelled(data, "f.txt")

    def test_a_missing_file_is_a_corpus_error(self, tmp_path: Path) -> None:
        with pytest.raises(CorpusError, match="cannot read"):
            read_labelled(tmp_path / "absent.txt")

    def test_written_files_read_back(self, tmp_path: Path) -> None:
        messages = [ham("a b"), spam("WIN £100")]
        write_labelled(messages, tmp_path / "out.txt")
        assert [(m.is_spam, m.text) for m in read_labelled(tmp_path / "out.txt")] == [
            (False, "a b"),
            (True, "WIN £100"),
        ]

    def test_the_collection_reads_whole(self) -> None:
        messages = read_labelled(COLLECTION)
        assert Counter(m.label for m in messages) == {"ham": 4827, "spam": 747}

    def test_the_supplement_reads_with_the_template_of_each_message(self) -> None:
        messages = read_supplement()
        assert {m.label for m in messages} == {"ham", "spam"}
        assert all(m.group and "\t" not in m.text for m in messages)
        assert len({m.group for m in messages}) >= 50  # many templates, not a few

    def test_a_supplement_line_without_its_template_is_named(self, tmp_path: Path) -> None:
        (tmp_path / "s.txt").write_text("ham\ten_otp.1\tcode 1\nham\tcode 2\n", encoding="utf-8")
        with pytest.raises(CorpusError, match="line 2: no template name"):
            read_supplement(tmp_path / "s.txt")


class TestTwins:
    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("Ok...", "ok"),
            ("Sorry, I'll call later", "Sorry  i'll call later."),
            (
                "Call 09061701461 to claim your £900 prize",
                "call 09066364589 to claim your £50 prize",
            ),
            ("ｆｒｅｅ entry", "free entry"),  # NFKC
        ],
    )
    def test_texts_differing_in_case_digits_spacing_or_punctuation_are_twins(
        self, first: str, second: str
    ) -> None:
        assert duplicate_key(first) == duplicate_key(second)

    @pytest.mark.parametrize(
        ("first", "second"),
        [("call me later", "call me tomorrow"), ("win a car", "win a cat")],
    )
    def test_texts_differing_in_a_word_are_not(self, first: str, second: str) -> None:
        assert duplicate_key(first) != duplicate_key(second)

    def test_the_first_of_each_group_is_kept(self) -> None:
        result = deduplicate([ham("Ok..."), spam("WIN 100"), ham("ok"), spam("win 250!")])
        assert [m.text for m in result.messages] == ["Ok...", "WIN 100"]
        assert (result.duplicates, result.conflicting) == (2, 0)

    def test_a_group_whose_twins_disagree_is_dropped_whole(self) -> None:
        result = deduplicate([ham("Call me"), spam("call me!"), ham("hello")])
        assert [m.text for m in result.messages] == ["hello"]
        assert (result.duplicates, result.conflicting) == (1, 1)

    def test_the_collection_loses_its_twins(self) -> None:
        result = deduplicate(read_labelled(COLLECTION))
        assert len(result.messages) + result.duplicates == 5574
        assert len({duplicate_key(m.text) for m in result.messages}) == len(result.messages)


class TestSplit:
    def test_no_held_out_message_has_a_twin_in_the_training_part(self) -> None:
        training, held_out = split(deduplicate(read_labelled(COLLECTION)).messages)
        training_keys = {duplicate_key(m.text) for m in training}
        assert not [m.text for m in held_out if duplicate_key(m.text) in training_keys]

    def test_it_is_stratified_75_25(self) -> None:
        messages = deduplicate(read_labelled(COLLECTION)).messages
        training, held_out = split(messages)
        assert len(held_out) == round(0.25 * len(messages))
        share = sum(m.is_spam for m in messages) / len(messages)
        for part in (training, held_out):
            assert sum(m.is_spam for m in part) / len(part) == pytest.approx(share, abs=0.002)

    def test_the_seed_fixes_it(self) -> None:
        messages = [ham(f"ham {i} {'x' * i}") for i in range(40)] + [
            spam(f"spam {i} {'y' * i}") for i in range(12)
        ]
        assert split(messages) == split(messages, seed=SPLIT_SEED)
        assert split(messages)[1] != split(messages, seed=SPLIT_SEED + 1)[1]

    def test_a_corpus_without_both_labels_cannot_be_split(self) -> None:
        with pytest.raises(CorpusError, match="at least two ham and two spam"):
            split([ham("a"), ham("b"), ham("c"), spam("d")])
