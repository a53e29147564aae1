"""What the model sees of a message: the normalised text and its hashed n-grams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from secgate.spam_model.corpus import read_labelled, read_supplement
from secgate.spam_model.features import (
    HashedTexts,
    char_ngram_counts,
    char_ngrams,
    log_length,
    normalise,
    normalise_all,
    word_ngram_counts,
)

COLLECTION = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "sms-spam-collection"
) / "SMSSpamCollection"


class TestNormalise:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # look-alike digits and symbols inside words
            ("fr33 c4sh", "free cash"),
            ("V!AGRA and c@sh and $ex", "viagra and cash and sex"),
            # ...but not in numbers or text speak with the digit first
            ("call 2nite 4u", "call 0nite 0u"),
            # invisible and bidi characters
            ("fr\u200bee c\u202eash w\u2060in", "free cash win"),
            ("\U000e0066ree", "ree"),  # a tag character ("ASCII smuggling")
            # compatibility forms and look-alike letters of other scripts
            ("ｆｒｅｅ 𝐜𝐚𝐬𝐡", "free cash"),
            ("Раypal vеrify", "paypal verify"),  # Cyrillic Р, а, е
            # accents
            ("Ü wan café", "u wan cafe"),
            # repeats
            ("freeeee!!!!!", "free!!"),
            ("£1000", "¤0000"),  # digits are not collapsed
        ],
    )
    def test_what_spammers_vary_is_undone(self, text: str, expected: str) -> None:
        assert normalise(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("رمز التحقق الخاص بك هو ٤٨٣٩", "رمز التحقق الخاص بك هو 0000"),  # Arabic-Indic digits
            ("أحمد إلى آخر", "احمد الي اخر"),  # alef variants, alef maqsura
            ("مدرسة", "مدرسه"),  # ta marbuta
            ("حمـــار", "حمار"),  # tatweel
            ("مُحَمَّد", "محمد"),  # harakat
        ],
    )
    def test_arabic_is_normalised(self, text: str, expected: str) -> None:
        assert normalise(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Visit www.example.com now", "visit URLTOKEN example now"),
            ("go to http://x.co/abc", "go to URLTOKEN x"),
            ("hxxp://evil[.]com and evil[.]com", "URLTOKEN evil and URLTOKEN evil"),
            ("bit.ly/3xKq9 is short", "URLTOKEN bit is short"),
            # the site's name is the label before a second-level domain, if any
            ("https://www.aramex.com.kw/t?id=1", "URLTOKEN aramex"),
            ("HTTPS://Kfh-Verify.top/login", "URLTOKEN kfh-verify"),
            ("http://192.168.1.20/x", "URLTOKEN 0"),
            ("mail me at bob@example.org", "mail me at EMAILTOKEN"),
            # a word-like top-level domain needs a path: a missing space is not a link
            ("ok.to go home.in 5", "ok.to go home.in 0"),
        ],
    )
    def test_links_keep_only_their_sites_name_and_addresses_become_placeholders(
        self, text: str, expected: str
    ) -> None:
        assert normalise(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Win £1,000 or $500 or €20", "win ¤0,000 or ¤000 or ¤00"),
            ("KWD 12.500 and 5 kd and 3 د.ك", "¤ 00.000 and 0¤ and 0 ¤"),
            ("txt WIN to 87121, 150p/msg", "txt win to 00000, 000p/msg"),
            ("call 09061701461", "call 00000000000"),
        ],
    )
    def test_numbers_keep_their_shape_and_currencies_are_one(
        self, text: str, expected: str
    ) -> None:
        assert normalise(text) == expected

    def test_the_collections_anonymised_placeholders_read_as_what_they_hid(self) -> None:
        assert normalise("at &lt;#&gt; &amp; &lt;TIME&gt; see &lt;URL&gt;") == (
            "at 0 & 0:00 see URLTOKEN"
        )

    def test_a_batch_is_normalised_in_order(self) -> None:
        assert normalise_all(["A", "B  b"]) == ["a", "b b"]

    def test_a_large_batch_reads_each_text_as_normalise_does(self) -> None:
        # From 16 texts on, which patterns to run is decided for the batch at once.
        texts = [
            "fr33 c4sh!!!",
            "baa4a",  # reading the 4 as an a makes a repeat
            "££kwd 5",  # so does reading a currency code as a sign
            "Win £1,000 now",
            "KWD 12.500 and 3 د.ك",
            "رصيدك ٣٣٣ دينار",
            "x\x00\x00\x00y",  # the batch's own separator inside a text
            "",
            "sooooo goooood",
            "111 222",  # a repeated digit is not a repeat
            "www.win.com £££",
            "\U0001d7ce\U0001d7ce\U0001d7ce and 𝐟𝐫𝐞𝐞",
            "$ex @home",
            "ok then",
            "Ｆｒｅｅ ｃａｓｈ",
            "ΡаypаI",
            "call 09061701461",
            "Your code is 483920",
            "only $ left",  # a sign without an amount
        ]
        assert len(texts) >= 16
        assert normalise_all(texts) == [normalise(text) for text in texts]

    def test_the_collection_and_the_supplement_read_the_same_in_a_batch(self) -> None:
        texts = [m.text for m in read_labelled(COLLECTION)] + [m.text for m in read_supplement()]
        assert normalise_all(texts) == [normalise(text) for text in texts]


class TestNgrams:
    TEXTS = ("free entry to win", "ok", "", "a bc def ghij", "رمز التحقق 0000")

    def test_character_ngrams_count_as_scikit_learns_char_wb(self) -> None:
        ours = char_ngram_counts(self.TEXTS)
        reference = CountVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), lowercase=False
        ).fit_transform(self.TEXTS)
        assert ours.shape == (len(self.TEXTS), 1 << 18)
        # The same n-grams, each counted once (hashing may merge columns, never drops one).
        assert ours.sum(axis=1).tolist() == reference.sum(axis=1).tolist()
        assert ours.nnz <= reference.nnz

    def test_words_count_unigrams_and_bigrams(self) -> None:
        counts = word_ngram_counts(["one two three", "x", ""])
        assert counts.sum(axis=1).tolist() == [[5.0], [1.0], [0.0]]

    def test_the_same_gram_lands_in_the_same_column_in_any_batch(self) -> None:
        alone = char_ngram_counts(["win cash"])
        among = char_ngram_counts(["hello", "win cash", "x"])
        assert (alone[0] != among[1]).nnz == 0

    def test_hashing_does_not_depend_on_the_process(self) -> None:
        # Pinned: the shipped model's columns. Python's str hash is salted per process;
        # these come from numpy arithmetic only, and must never change.
        rows, columns = char_ngrams(["ab"])
        assert rows.tolist() == [0] * 6
        assert sorted(columns.tolist()) == sorted(char_ngrams(HashedTexts(["ab"]))[1].tolist())
        assert sorted(columns.tolist()) == PINNED_AB_COLUMNS

    def test_empty_texts_have_no_ngrams(self) -> None:
        assert char_ngram_counts(["", ""]).nnz == 0
        assert word_ngram_counts([""]).nnz == 0
        assert char_ngram_counts(["", "ab"])[1].sum() == 6

    def test_log_length_is_a_column(self) -> None:
        assert np.allclose(log_length(["", "abc"]), [[0.0], [np.log(4.0)]])


# The columns of " a", "ab", "b ", " ab", "ab ", " ab " (2- to 5-grams of "ab").
PINNED_AB_COLUMNS = [18376, 34471, 65923, 132878, 223296, 246347]
