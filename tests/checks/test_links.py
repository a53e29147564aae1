"""Links: shorteners, IP-address hosts, look-alike domains of protected brands."""

from __future__ import annotations

import ipaddress

import pytest

from secgate.checks.links import (
    LinkRules,
    Links,
    ProtectedDomains,
    edit_distance,
    find_links,
    ip_host,
    load_protected_domains,
    load_shorteners,
    registrable_index,
)
from secgate.checks.verdict import MessageUnderCheck, Verdict
from secgate.settings import Settings

SETTINGS = Settings()
PROTECTED = load_protected_domains(SETTINGS.link_protected_domains_file)
SHORTENERS = load_shorteners(SETTINGS.link_shorteners_file)
RULES = LinkRules(
    PROTECTED,
    SHORTENERS,
    max_edits=SETTINGS.link_lookalike_max_edits,
    min_brand_chars=SETTINGS.link_lookalike_min_brand_chars,
)


def hosts(text: str) -> list[str]:
    return [link.host for link in find_links(text)]


async def check(text: str, rules: LinkRules = RULES) -> tuple[Verdict, str | None, list[str]]:
    result = await Links(rules).check(MessageUnderCheck(sender="SHOP", text=text))
    findings = [d["finding"] for d in result.details.get("links", [])]
    return result.verdict, result.code, findings


class TestFindLinks:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Visit https://www.kfh.com/en/cards today", ["www.kfh.com"]),
            ("HTTP://EXAMPLE.COM/x", ["example.com"]),
            ("go to www.example.com.", ["www.example.com"]),
            ("short link bit.ly/3xYz", ["bit.ly"]),
            ("Track at aramex.com/track/123", ["aramex.com"]),
            ("login at nbk-secure-login.com now", ["nbk-secure-login.com"]),
            ("write to info@example.com", ["example.com"]),
            ("ftp://files.example.org/a", ["files.example.org"]),
            ("https://example.com:8443/path", ["example.com"]),
            ("https://user@example.com/", ["example.com"]),
            ("http://[2001:db8::1]/x", ["2001:db8::1"]),
            ("open 45.33.12.8/login", ["45.33.12.8"]),
            ("open 45.33.12.8:8080 now", ["45.33.12.8"]),
            ("a.com and b.net and a.com again", ["a.com", "b.net"]),
            ("(see https://example.com)", ["example.com"]),
            ("https://ｅｘａｍｐｌｅ．ｃｏｍ", ["example.com"]),  # full-width
            ("example\u3002com", ["example.com"]),  # ideographic full stop
            ("exa\u200bmple.com", ["example.com"]),  # invisible character
            ("https://xn--nb-3lc.com/", ["nbк.com"]),  # punycode decoded
        ],
    )
    def test_links_are_found(self, text: str, expected: list[str]) -> None:
        assert hosts(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "Your code is 483920",
            "KWD 12.500 debited",
            "version 1.2.3.4 released",  # an address alone is not a link
            "e.g. this, i.e. that",
            "see file report.pdf",  # not a top-level domain
            "Thank you for banking with NBK.It is done",  # a sentence ends there
            "nbk . com",  # spaces around the dot: nobody can tap it
        ],
    )
    def test_text_without_links_has_none(self, text: str) -> None:
        assert hosts(text) == []

    def test_a_domain_in_a_links_path_is_not_another_link(self) -> None:
        assert hosts("https://evil.io/nbk.com/login") == ["evil.io"]

    @pytest.mark.parametrize(
        "text",
        [
            "example[.]com",
            "example(.)com",
            "example{.}com",
            "example [dot] com",
            "example(dot)com",
            "hxxp://example.com",
            "hxxps://example.com",
            "h**p://example.com",
            "https[:]//example.com",
        ],
    )
    def test_obfuscated_links_are_found_and_marked(self, text: str) -> None:
        links = find_links(text)
        assert [(link.host, link.obfuscated) for link in links] == [("example.com", True)]

    def test_a_plain_link_beside_an_obfuscated_one_is_not_marked(self) -> None:
        links = find_links("example[.]com or google.com")
        assert [(link.host, link.obfuscated) for link in links] == [
            ("example.com", True),
            ("google.com", False),
        ]


class TestIpHost:
    @pytest.mark.parametrize(
        ("host", "address", "canonical"),
        [
            ("192.168.1.1", "192.168.1.1", True),
            ("3232235777", "192.168.1.1", False),  # decimal
            ("0xc0a80101", "192.168.1.1", False),  # hex
            ("0300.0250.1.1", "192.168.1.1", False),  # octal parts
            ("0xc0.168.1.1", "192.168.1.1", False),  # one hex part
            ("192.168.257", "192.168.1.1", False),  # the last part fills two bytes
            ("127.1", "127.0.0.1", False),
            ("010.0.0.1", "8.0.0.1", False),  # a leading zero is octal
            ("::1", "::1", True),
        ],
    )
    def test_every_form_a_browser_accepts_is_read(
        self, host: str, address: str, canonical: bool
    ) -> None:
        ip = ip_host(host)
        assert ip is not None
        assert (ip.address, ip.canonical) == (ipaddress.ip_address(address), canonical)

    @pytest.mark.parametrize(
        "host", ["example.com", "256.1.1.1", "1.2.3.4.5", "face.be", "09.1.1.1"]
    )
    def test_a_name_or_an_impossible_address_is_not_an_ip(self, host: str) -> None:
        assert ip_host(host) is None


class TestIpHosts:
    @pytest.mark.parametrize(
        "text",
        [
            "http://45.33.12.8/login",
            "go to 45.33.12.8/login",
            "http://[2a00:1450:4001::1]/x",
            "http://[::ffff:8.8.8.8]/x",  # an IPv4 address inside IPv6
        ],
    )
    async def test_a_public_address_is_rejected(self, text: str) -> None:
        assert await check(text) == (Verdict.REJECT, "ERR032", ["ip_host"])

    @pytest.mark.parametrize(
        "text",
        ["http://3232235777/", "http://0xC0A80101/", "http://0300.0250.1.1/", "http://127.1/"],
    )
    async def test_an_address_written_to_hide_it_is_rejected_even_if_private(
        self, text: str
    ) -> None:
        assert await check(text) == (Verdict.REJECT, "ERR032", ["disguised_ip"])

    @pytest.mark.parametrize(
        "text",
        ["set up your router at http://192.168.1.1/", "http://10.0.0.1:8080/", "http://[fe80::1]/"],
    )
    async def test_a_private_address_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, None, ["private_ip_host"])


class TestShorteners:
    @pytest.mark.parametrize(
        "text",
        [
            "https://bit.ly/3xYz",
            "bit.ly/3xYz",
            "tinyurl.com/abc",
            "https://t.co/abc",
            "goo.gl/abc",
            "is.gd/abc",
            "ow.ly/abc",
            "cutt.ly/abc",
            "rebrand.ly/abc",
            "shorturl.at/abc",
            "s.id/abc",
            "tiny.cc/abc",
            "rb.gy/abc",
            "https://www.bit.ly/abc",  # a subdomain of one
            "BIT.LY/ABC",
        ],
    )
    async def test_a_shortened_link_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, None, ["shortener"])

    async def test_a_domain_that_merely_ends_like_a_shortener_passes(self) -> None:
        assert await check("https://habit.ly/x") == (Verdict.PASS, None, [])


class TestLookalikes:
    @pytest.mark.parametrize(
        "text",
        [
            "https://www.kfh.com/en/home",
            "https://nbk.com",
            "online.nbk.com/login",  # a subdomain of the brand's own
            "https://www.ooredoo.com.kw",
            "https://www.aramex.com/track",
            "https://www.dhl.com/kw-en/home/tracking.html?tracking-id=1",
            "https://www.bankboubyan.com",
            "https://www.cbk.com/en",  # the Commercial Bank's; the Central Bank's is cbk.gov.kw
            "https://www.cbk.gov.kw",
            "warbabank.com",  # contains "warba", and is Warba's own
            "https://kfc.com.kw/menu",  # one letter from kfh: a brand of its own
            "zainab-photography.com",  # a short name inside a word
            "https://www.google.com",
            "https://www.talabat.com/kuwait",
        ],
    )
    async def test_brands_own_domains_and_unrelated_ones_pass(self, text: str) -> None:
        assert await check(text) == (Verdict.PASS, None, [])

    @pytest.mark.parametrize(
        "text",
        [
            "https://nbk-secure-login.com",  # brand and extra words
            "https://secure-nbk.com",
            "https://kfh-kw.net/verify",
            "https://nbk.com.evil.io/login",  # the brand's domain as a subdomain
            "https://nbk.evil.io",
            "https://www.paypal.com.secure-login.xyz",
            "https://aramex-delivery.top/pay",
            "https://dhl-kuwait.info/fee",
        ],
    )
    async def test_the_brand_as_a_word_of_another_domain_is_rejected(self, text: str) -> None:
        assert await check(text) == (Verdict.REJECT, "ERR032", ["brand_in_domain"])

    @pytest.mark.parametrize(
        "text",
        [
            "https://nbк.com",  # Cyrillic ka
            "https://xn--nb-3lc.com",  # the same, in punycode
            "https://0oredoo.com.kw",  # zero for O
            "https://b0ubyan.com",
            "https://kn3t.com.kw",
            "https://paypa1.com",
            "https://n-b-k.com",  # separators
            "https://secure-nbк.com",
            "https://k-f-h.com",
        ],
    )
    async def test_a_disguised_brand_name_is_rejected(self, text: str) -> None:
        verdict, code, findings = await check(text)
        assert (verdict, code) == (Verdict.REJECT, "ERR032")
        assert "lookalike" in findings

    @pytest.mark.parametrize("text", ["https://nbk.net/verify", "kfh.com.kw", "zain.co"])
    async def test_the_plain_name_under_another_suffix_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, None, ["brand_elsewhere"])

    @pytest.mark.parametrize(
        "text",
        [
            "https://ooredo.com",  # a letter dropped
            "https://ooerdoo.com",  # two swapped
            "https://aramax.com/track",  # one changed
            "https://boubyann.com",  # one added
            "https://ooredookuwait.com",  # a long name inside a longer one
        ],
    )
    async def test_a_near_miss_of_a_long_name_is_held(self, text: str) -> None:
        assert await check(text) == (Verdict.HOLD, None, ["resembles_brand"])


class TestLookalikeThresholds:
    """`link_lookalike_max_edits` and `link_lookalike_min_brand_chars` at their bounds,
    with a brand of six letters."""

    PROTECTED = ProtectedDomains.of(["abcdef: abcdef.com"])

    def rules(self, max_edits: int = 1, min_brand_chars: int = 6) -> LinkRules:
        return LinkRules(self.PROTECTED, frozenset(), max_edits, min_brand_chars)

    @pytest.mark.parametrize(
        ("max_edits", "verdict"), [(0, Verdict.PASS), (1, Verdict.HOLD), (2, Verdict.HOLD)]
    )
    async def test_one_edit_away_is_held_from_max_edits_1(
        self, max_edits: int, verdict: Verdict
    ) -> None:
        result = await check("abcdxf.com", self.rules(max_edits=max_edits))
        assert result[0] is verdict

    @pytest.mark.parametrize(
        ("max_edits", "verdict"), [(1, Verdict.PASS), (2, Verdict.HOLD), (3, Verdict.HOLD)]
    )
    async def test_two_edits_away_is_held_from_max_edits_2(
        self, max_edits: int, verdict: Verdict
    ) -> None:
        result = await check("abxdxf.com", self.rules(max_edits=max_edits))
        assert result[0] is verdict

    @pytest.mark.parametrize(
        ("min_brand_chars", "verdict"),
        [(5, Verdict.HOLD), (6, Verdict.HOLD), (7, Verdict.PASS)],
    )
    async def test_a_name_shorter_than_min_brand_chars_is_matched_only_exactly(
        self, min_brand_chars: int, verdict: Verdict
    ) -> None:
        near = await check("abcdxf.com", self.rules(min_brand_chars=min_brand_chars))
        inside = await check("myabcdefshop.com", self.rules(min_brand_chars=min_brand_chars))
        assert (near[0], inside[0]) == (verdict, verdict)

    @pytest.mark.parametrize("min_brand_chars", [5, 6, 7])
    async def test_a_disguised_name_is_rejected_whatever_its_length(
        self, min_brand_chars: int
    ) -> None:
        result = await check("abcdef-login.com", self.rules(min_brand_chars=min_brand_chars))
        assert result[:2] == (Verdict.REJECT, "ERR032")


class TestDisguisedLinks:
    async def test_a_brand_domain_as_user_name_before_another_host_is_rejected(self) -> None:
        assert await check("https://nbk.com@evil.io/login") == (
            Verdict.REJECT,
            "ERR032",
            ["disguised_host"],
        )

    async def test_another_user_name_part_is_held(self) -> None:
        assert await check("https://user@example.com/") == (Verdict.HOLD, None, ["userinfo"])

    async def test_an_obfuscated_link_is_held(self) -> None:
        assert await check("claim at example[.]com") == (Verdict.HOLD, None, ["obfuscated"])

    async def test_an_obfuscated_look_alike_is_rejected(self) -> None:
        verdict, code, findings = await check("hxxps://nbk-login[.]com")
        assert (verdict, code) == (Verdict.REJECT, "ERR032")
        assert findings == ["obfuscated", "brand_in_domain"]

    async def test_a_malformed_punycode_label_is_held(self) -> None:
        assert await check("https://xn--a.com/") == (Verdict.HOLD, None, ["malformed_idn"])

    async def test_a_domain_label_mixing_scripts_is_held(self) -> None:
        verdict, _, findings = await check("https://exаmple.com/")  # Cyrillic а
        assert (verdict, findings) == (Verdict.HOLD, ["mixed_script_domain"])

    async def test_a_domain_in_one_other_script_passes(self) -> None:
        assert await check("https://موقع.com/") == (Verdict.PASS, None, [])


class TestLinks:
    async def test_a_reject_gives_err032_and_lists_every_finding(self) -> None:
        result = await Links(RULES).check(
            MessageUnderCheck(sender="SHOP", text="bit.ly/x then https://nbk-login.com")
        )
        assert (result.verdict, result.code, result.check) == (Verdict.REJECT, "ERR032", "links")
        assert result.reason == (
            "link to nbk-login.com uses the name nbk in a domain not its own "
            "(nbk.com, nbkcapital.com)"
        )
        assert result.details["links"] == [
            {"host": "bit.ly", "finding": "shortener", "verdict": "hold"},
            {"host": "nbk-login.com", "finding": "brand_in_domain", "verdict": "reject"},
        ]

    async def test_a_hold_gives_the_first_reason(self) -> None:
        result = await Links(RULES).check(MessageUnderCheck(sender="SHOP", text="bit.ly/x"))
        assert (result.verdict, result.code) == (Verdict.HOLD, None)
        assert result.reason == "link through a URL shortener (bit.ly) hides where it leads"

    async def test_text_without_links_passes(self) -> None:
        assert await check("Your code is 483920") == (Verdict.PASS, None, [])

    def test_it_needs_no_store_and_fails_closed(self) -> None:
        assert Links(RULES).fails == "closed"


class TestProtectedDomains:
    def test_the_list_reads_names_and_their_domains(self) -> None:
        protected = ProtectedDomains.of(["# comment", "", "NBK: nbk.com nbkcapital.com  # x"])
        assert [(b.name, b.domains) for b in protected.brands] == [
            ("nbk", ("nbk.com", "nbkcapital.com"))
        ]

    @pytest.mark.parametrize(
        ("host", "official"),
        [
            ("nbk.com", True),
            ("www.nbk.com", True),
            ("a.b.nbk.com", True),
            ("evilnbk.com", False),
            ("nbk.com.evil.io", False),
        ],
    )
    def test_a_listed_domain_and_its_subdomains_are_official(
        self, host: str, official: bool
    ) -> None:
        assert PROTECTED.is_official(host) is official

    def test_the_shipped_lists_hold_the_brands_of_the_issue(self) -> None:
        names = {b.name for b in PROTECTED.brands}
        assert {"zain", "ooredoo", "stc", "kfh", "nbk", "knet"} <= names
        assert {"bit.ly", "tinyurl.com", "t.co", "goo.gl", "is.gd", "ow.ly"} <= SHORTENERS

    @pytest.mark.parametrize(
        ("host", "registered"),
        [
            ("nbk.com", "nbk"),
            ("www.nbk.com", "nbk"),
            ("www.ooredoo.com.kw", "ooredoo"),
            ("paci.gov.kw", "paci"),
            ("nbk.com.evil.io", "evil"),
            ("localhost", "localhost"),
        ],
    )
    def test_the_registered_label_is_found(self, host: str, registered: str) -> None:
        labels = host.split(".")
        assert labels[registrable_index(labels)] == registered


class TestEditDistance:
    @pytest.mark.parametrize(
        ("a", "b", "distance"),
        [
            ("ooredoo", "ooredoo", 0),
            ("ooredoo", "ooredo", 1),  # dropped
            ("ooredoo", "oooredoo", 1),  # added
            ("ooredoo", "ooredao", 1),  # changed
            ("ooredoo", "ooerdoo", 1),  # neighbours swapped
            ("ooredoo", "oredo", 2),
        ],
    )
    def test_edits_are_counted(self, a: str, b: str, distance: int) -> None:
        assert edit_distance(a, b, limit=3) == distance

    def test_over_the_limit_it_answers_limit_plus_one(self) -> None:
        assert edit_distance("ooredoo", "zain", limit=1) == 2
        assert edit_distance("abcdef", "uvwxyz", limit=2) == 3
