"""Text written so that filters do not read what people see: held for review.

- Invisible characters inside a word ("f\u200bree", "Pay\u00adPal"): a zero-width
  space, joiner, soft hyphen, word joiner, tag character... between two letters of the
  same script (or two digits). Not flagged where they are ordinary: a zero-width
  (non-)joiner between two Arabic-script letters (Persian and Arabic typography), and
  any of them at the edge between two scripts or a word and a number (bidi marks that
  keep "KWD 12.500" in place inside Arabic text), or beside emoji (variation
  selectors, emoji joiners).
- Bidirectional overrides (U+202D, U+202E) anywhere: they redraw the text after them
  in reverse ("moc.knb" shows as "bnk.com"); bidirectional text never needs them.
- Mixed-script words: letters of two scripts in one word ("Раypal" with Cyrillic Р
  and а). Not flagged: Arabic beside Latin ("الـOTP" is ordinary Gulf writing) and the
  Chinese, Japanese and Korean scripts among themselves.
- Whole-script look-alikes: in a message written in Latin letters, a word of three
  letters or more in Cyrillic or Greek whose every letter looks like a Latin one
  ("рау" in Cyrillic).

All hold rather than reject: a copy-paste from a word processor leaves soft hyphens
too, and a person tells. (The other checks read through the same tricks: the word
lists and the link rules match the text with these characters removed.)
"""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs.categories import alias

from secgate.checks.text_normalisation import (
    BIDI_OVERRIDES,
    INVISIBLE,
    JOINERS,
    latin_lookalikes,
    normalise,
)
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, held, passed

_LETTERS = re.compile(r"[^\W\d_]+")
# Scripts a word may mix without any intent to deceive.
_ORDINARY_MIXES = (
    frozenset({"LATIN", "ARABIC"}),
    frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"}),
)
_NEITHER_ASCII_NOR_ARABIC = re.compile(r"[^\W\d_a-zA-Z\u0621-\u064a]")
_LOOKALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK"})
_MIN_LOOKALIKE_WORD = 3


@functools.cache
def script_of(char: str) -> str:
    """The Unicode script of a character ("LATIN", "CYRILLIC", "COMMON"...)."""
    if char.isascii():
        return "LATIN" if char.isalpha() else "COMMON"
    return alias(char)


# NFKC reads the micro sign (µ, as in "500µg") as Greek mu: as a unit prefix it is no
# letter of a word.
_UNIT_LETTERS = frozenset("\u03bc")


def scripts_of(word: str) -> set[str]:
    """The scripts of the letters of `word` (digits, marks, punctuation and the micro
    sign ignored)."""
    scripts = {script_of(c) for c in word if c.isalpha() and c not in _UNIT_LETTERS}
    return scripts - {"COMMON", "INHERITED"}


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()


def _side(char: str) -> str | None:
    """What an invisible character sits beside: a script, "DIGIT", or None."""
    if char.isdigit():
        return "DIGIT"
    if char.isalpha():
        return script_of(char)
    return None


# Invisible characters reported at most, so that a text made of them costs little.
MAX_REPORTED = 20


def invisible_inside_words(text: str) -> list[tuple[str, str]]:
    """(character, word) for each invisible character hidden inside a word, and for
    each bidirectional override wherever it is (at most MAX_REPORTED)."""
    # The first visible character after each position, found in one backward pass.
    after = [""] * len(text)
    following = ""
    for i in range(len(text) - 1, -1, -1):
        after[i] = following
        if text[i] not in INVISIBLE:
            following = text[i]
    found: list[tuple[str, str]] = []
    before = ""  # the last visible character so far
    for i, char in enumerate(text):
        if char not in INVISIBLE:
            before = char
            continue
        if len(found) == MAX_REPORTED:
            break
        if char in BIDI_OVERRIDES:
            found.append((char, _word_around(text, i)))
            continue
        left = _side(before) if before else None
        right = _side(after[i]) if after[i] else None
        if left is None or left != right:
            continue  # at a word's edge, between scripts, or beside emoji
        if char in JOINERS and left == "ARABIC":
            continue  # chooses a joined or unjoined letter form
        found.append((char, _word_around(text, i)))
    return found


def _word_around(text: str, i: int, reach: int = 40) -> str:
    """The word around position i (up to `reach` characters each way), shown without
    its invisible characters."""
    start, end = i, i + 1
    while start > max(i - reach, 0) and not text[start - 1].isspace():
        start -= 1
    while end < min(i + reach, len(text)) and not text[end].isspace():
        end += 1
    return "".join(c for c in text[start:end] if c not in INVISIBLE)


def mixed_script_words(text: str) -> list[str]:
    """Words whose letters come from two scripts that ordinary writing does not mix."""
    found = []
    for word in _LETTERS.findall(text):
        if word.isascii():
            continue
        scripts = scripts_of(word)
        if len(scripts) > 1 and not any(scripts <= mix for mix in _ORDINARY_MIXES):
            found.append(word)
    return found


def lookalike_words(text: str) -> list[str]:
    """In Latin text, Cyrillic or Greek words made only of letters that look Latin."""
    words = _LETTERS.findall(text)
    latin = sum(1 for w in words if w.isascii())
    lookalikes = latin_lookalikes()
    found = []
    foreign = 0
    for word in words:
        if word.isascii():
            continue
        scripts = scripts_of(word)
        if len(scripts) == 1 and scripts <= _LOOKALIKE_SCRIPTS:
            foreign += 1
            if len(word) >= _MIN_LOOKALIKE_WORD and all(
                c in lookalikes or c.lower() in lookalikes for c in word
            ):
                found.append(word)
    return found if latin > foreign else []


class Obfuscation:
    """Hold text disguised from filters: invisible characters inside words,
    bidirectional overrides, mixed-script and look-alike words (see the module doc)."""

    name = "obfuscation"
    # Needs no store.
    fails: FailMode = "closed"

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        text = message.text
        if text.isascii():  # none of this can be written in ASCII
            return passed(self.name)
        findings: list[dict[str, object]] = []
        reasons: list[str] = []
        normalised = normalise(text)
        hidden = invisible_inside_words(text) if normalised.removed else []
        if hidden:
            characters = sorted({_code_point(c) for c, _ in hidden})
            words = list(dict.fromkeys(w for _, w in hidden))
            override = any(c in BIDI_OVERRIDES for c, _ in hidden)
            reasons.append(
                "bidirectional override reorders the text"
                if override
                else "invisible characters inside words"
            )
            findings.append({"finding": "invisible", "characters": characters, "words": words})
        visible = normalised.text
        # Plain ASCII and Arabic letters alone never mix badly: most texts stop here.
        if _NEITHER_ASCII_NOR_ARABIC.search(visible):
            mixed = mixed_script_words(visible)
            if mixed:
                reasons.append("words mixing letters of different scripts")
                findings.append({"finding": "mixed_script", "words": mixed})
            lookalike = lookalike_words(visible)
            if lookalike:
                reasons.append("words in look-alike letters of another script")
                findings.append({"finding": "lookalike_script", "words": lookalike})
        if not findings:
            return passed(self.name)
        return held(self.name, "; ".join(reasons), obfuscation=findings)
