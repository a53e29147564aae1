"""The supplement must not teach the model the transactional test set.

tests/checks/data/transactional_en_ar.txt is what the pipeline is judged on (every one
of its messages must pass): a supplement message that copies one of them, up to its
numbers and names, would let the model pass it from memory. Two messages are near twins
here when a third or more of their word 3-grams (after the model's normalisation:
digits, currency, links folded) are shared.
"""

from __future__ import annotations

from transactional_set import read_messages

from secgate.spam_model.corpus import read_supplement
from secgate.spam_model.features import normalise

NEAR = 0.3


def word_trigrams(text: str) -> set[str]:
    words = normalise(text).split()
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def test_the_measure_finds_a_copy_with_other_numbers_and_names() -> None:
    test = word_trigrams("Your Aramex shipment 4471239901 is out for delivery today.")
    copy = word_trigrams("Your DHL shipment 1234567890 is out for delivery today.")
    other = word_trigrams("Aramex: a courier brings parcel 4471239901 to you today.")
    assert similarity(test, copy) >= NEAR > similarity(test, other)


def test_no_supplement_message_is_a_near_twin_of_a_transactional_test_message() -> None:
    tests = [(text, word_trigrams(text)) for text in read_messages()]
    assert len(tests) >= 60
    twins = [
        (message.text, text)
        for message in read_supplement()
        for text, trigrams in tests
        if similarity(word_trigrams(message.text), trigrams) >= NEAR
    ]
    assert twins == []
