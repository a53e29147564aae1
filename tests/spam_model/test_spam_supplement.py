"""The supplement must not teach the model the transactional test set.

tests/checks/data/transactional_en_ar.txt is what the pipeline is judged on (every one
of its messages must pass): a supplement message that copies one of them, up to its
numbers and names, would let the model pass it from memory. Two messages are near twins
here when a third or more of their word 3-grams (after the model's normalisation:
digits, currency, links folded) are shared.

Nor may it teach the model that a genuine notice links to another brand's site: real
notices link to the sender's own site, scams pair a brand with a foreign domain. The
generator's brand tables (a brand's names and its own site, one table per kind) say which
site is whose.
"""

from __future__ import annotations

import re

from transactional_set import read_messages

from secgate.spam_model.corpus import read_supplement
from secgate.spam_model.data import make_supplement as generator
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


BRAND_TABLES = [
    generator.telcos,
    generator.banks,
    generator.insurers,
    generator.government,
    generator.apps,
    generator.merchants,
    generator.shops,
    generator.couriers,
    generator.clinics,
    generator.schools,
    generator.hotels,
]
LINK_HOST = re.compile(r"https?://([\w.-]+)")

Row = tuple[str | None, ...]


def site(row: Row) -> str | None:
    """A brand's own site: the host in its row's last field (a domain, or for couriers a
    tracking link); None for a brand without one."""
    return row[-1] and row[-1].removeprefix("https://").split("/")[0]


def names(row: Row, text: str) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", text) for name in row[:-1] if name)


def foreign_links(text: str) -> list[str]:
    """Sites linked in the text that belong to no brand it names of the same kind (a bank
    named with another bank's site; brands of different kinds, such as a bank and the
    merchant of a purchase, are not compared)."""
    links = {host.rstrip(".").lower() for host in LINK_HOST.findall(text)}
    foreign = []
    for table in BRAND_TABLES:
        named = {site(row) for row in table if names(row, text)}
        linked = links & {site(row) for row in table}
        if named:
            foreign.extend(sorted(linked - named))
    return foreign


def test_the_check_finds_a_brand_with_another_brands_site() -> None:
    own = "Zain: 90% of your 25GB allowance is used. Top up at https://www.zain.com"
    other = "Zain: 90% of your 25GB allowance is used. Top up at https://www.ooredoo.com"
    arabic = "وربة للتأمين: صدرت وثيقة التأمين رقم 1. تحميل الوثيقة https://www.gig.com.kw/p/x"
    siteless = "the dental clinic: lab report 1 is available at https://www.daralshifa.com/results"
    two_kinds = "NBK: Purchase of KWD 5.000 at XCITE. For help visit https://www.nbk.com"
    assert foreign_links(own) == foreign_links(two_kinds) == []
    assert foreign_links(other) == ["www.ooredoo.com"]
    assert foreign_links(arabic) == ["www.gig.com.kw"]
    assert foreign_links(siteless) == ["www.daralshifa.com"]


def test_every_supplement_notice_links_only_to_the_sites_of_the_brands_it_names() -> None:
    notices = [message.text for message in read_supplement() if not message.is_spam]
    rows = [row for table in BRAND_TABLES for row in table if site(row)]
    with_own_site = [
        text
        for text in notices
        if any(names(row, text) and f"//{site(row)}" in text for row in rows)
    ]
    assert len(with_own_site) >= 200  # so the check does see brands with links
    assert [(text, foreign_links(text)) for text in notices if foreign_links(text)] == []
