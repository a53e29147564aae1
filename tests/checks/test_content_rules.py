"""The content rules together: HTML, bad language, links, obfuscation; and the
transactional messages that all of them must let through."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from transactional_set import read_messages

from secgate.checks.content_rules import HtmlMarkup, default_rule_checks
from secgate.checks.verdict import CheckResult, MessageUnderCheck, Verdict
from secgate.settings import Settings

ARABIC = re.compile(r"[\u0600-\u06ff]")


MESSAGES = read_messages()


async def run_rules(text: str, settings: Settings | None = None) -> list[CheckResult]:
    message = MessageUnderCheck(sender="KFH", text=text)
    return [await check.check(message) for check in default_rule_checks(settings or Settings())]


class TestHtmlMarkup:
    @pytest.mark.parametrize(
        "text",
        [
            "<b>50% off</b>",
            "<a href=https://example.com>click</a>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",  # as it shows on a page
            "<scr\u200bipt>",  # an invisible character inside the tag
            "<!-- hidden -->",
        ],
    )
    async def test_html_is_rejected_with_err027(self, text: str) -> None:
        result = await HtmlMarkup().check(MessageUnderCheck(sender="SHOP", text=text))
        assert (result.check, result.verdict, result.code) == ("html", Verdict.REJECT, "ERR027")

    @pytest.mark.parametrize(
        "text", ["5 < 6 > 3", "I <3 Kuwait", "Tom &amp; Jerry", "if a<b and c>d", "<name>"]
    )
    async def test_text_that_only_looks_like_markup_passes(self, text: str) -> None:
        result = await HtmlMarkup().check(MessageUnderCheck(sender="SHOP", text=text))
        assert result.verdict is Verdict.PASS

    def test_it_needs_no_store_and_fails_closed(self) -> None:
        assert HtmlMarkup().fails == "closed"


class TestDefaultRuleChecks:
    def test_refusals_come_first_holds_last(self) -> None:
        names = [check.name for check in default_rule_checks(Settings())]
        assert names == ["html", "bad_language", "links", "obfuscation"]

    def test_no_rule_needs_a_store_and_each_fails_closed(self) -> None:
        assert {check.fails for check in default_rule_checks(Settings())} == {"closed"}

    async def test_the_lists_come_from_the_settings(self, tmp_path: Path) -> None:
        words = tmp_path / "words.txt"
        words.write_text("darn\n", encoding="utf-8")
        domains = tmp_path / "domains.txt"
        domains.write_text("acme: acme.example\n", encoding="utf-8")
        shorteners = tmp_path / "shorteners.txt"
        shorteners.write_text("lnk.to\n", encoding="utf-8")
        settings = replace(
            Settings(),
            bad_words_en_file=words,
            bad_words_ar_file=words,
            link_protected_domains_file=domains,
            link_shorteners_file=shorteners,
        )
        verdicts = {
            text: [r.verdict for r in await run_rules(text, settings) if r.verdict != "pass"]
            for text in ["darn it", "fuck", "acme-login.com", "lnk.to/x", "bit.ly/x"]
        }
        assert verdicts == {
            "darn it": [Verdict.REJECT],
            "fuck": [],  # the shipped list is not read
            "acme-login.com": [Verdict.REJECT],
            "lnk.to/x": [Verdict.HOLD],
            "bit.ly/x": [],
        }

    @pytest.mark.parametrize(
        "text",
        [
            "a\ud800b",  # a lone surrogate
            "\u200b" * 5000,  # nothing but invisible characters
            "x" * 20_000,
            "a." * 5000,  # dots everywhere
            "http://" * 2000,
            "f u c k " * 1000,
            "\u202e" * 100 + "nbk.com",
            "[.]" * 1000,
        ],
    )
    async def test_hostile_text_gets_an_answer_not_an_exception(self, text: str) -> None:
        results = await run_rules(text)
        assert len(results) == 4


class TestTransactionalMessages:
    def test_the_set_is_large_and_covers_both_languages(self) -> None:
        assert len(MESSAGES) >= 60
        arabic = [m for m in MESSAGES if ARABIC.search(m)]
        assert len(arabic) >= 20
        assert len(MESSAGES) - len(arabic) >= 20

    def test_the_set_covers_codes_banks_deliveries_and_links(self) -> None:
        text = "\n".join(MESSAGES)
        for needle in ["Your code is", "رمز التحقق", "KWD", "د.ك", "4821", "aramex.com",
                       "dhl.com", "https://www.kfh.com/", "appointment", "موعد"]:  # fmt: skip
            assert needle in text, needle

    @pytest.mark.parametrize("text", MESSAGES, ids=range(len(MESSAGES)))
    async def test_every_message_passes_every_rule(self, text: str) -> None:
        failures = [r for r in await run_rules(text) if r.verdict is not Verdict.PASS]
        assert failures == []
