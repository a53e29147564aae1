"""The content rules beside the spam model, in the order they apply.

HTML (ERR027), bad language (ERR031), links (ERR032 or hold) and text disguised from
filters (hold). They read only the text and need no store: each is built once from
the settings (its lists read then) and answers from memory.
"""

from __future__ import annotations

from secgate.checks.bad_language import BadLanguage, load_word_list
from secgate.checks.links import LinkRules, Links, load_protected_domains, load_shorteners
from secgate.checks.obfuscation import Obfuscation
from secgate.checks.text_normalisation import normalise
from secgate.checks.verdict import (
    CheckResult,
    FailMode,
    MessageCheck,
    MessageUnderCheck,
    passed,
    rejected,
)
from secgate.settings import Settings
from secgate.sms.rules import contains_html

# A tag cannot be written without one of these ("<", "&lt;", or a full-width or small
# form that NFKC reads as "<" or "&").
_MAY_OPEN_A_TAG = "<&\uff1c\ufe64\uff06\ufe60"


class HtmlMarkup:
    """ERR027: an HTML tag in the message, as `secgate.sms.rules.contains_html` reads
    one (the send path's own rule), also once invisible characters are taken out
    ("<scr\u200bipt>")."""

    name = "html"
    fails: FailMode = "closed"  # needs no store

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        text = message.text
        if not any(char in text for char in _MAY_OPEN_A_TAG):
            return passed(self.name)
        if contains_html(text) or contains_html(normalise(text).text):
            return rejected(self.name, "ERR027", "HTML tags are not allowed in the message")
        return passed(self.name)


def default_rule_checks(settings: Settings) -> list[MessageCheck]:
    """The content rules, in order: refusals with kwtSMS's codes first, holds last."""
    return [
        HtmlMarkup(),
        BadLanguage(load_word_list(settings.bad_words_en_file, settings.bad_words_ar_file)),
        Links(
            LinkRules(
                protected=load_protected_domains(settings.link_protected_domains_file),
                shorteners=load_shorteners(settings.link_shorteners_file),
                max_edits=settings.link_lookalike_max_edits,
                min_brand_chars=settings.link_lookalike_min_brand_chars,
            )
        ),
        Obfuscation(),
    ]
