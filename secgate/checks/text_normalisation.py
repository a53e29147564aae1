"""Text as the content checks compare it: one normaliser shared by every rule.

Spammers dodge word lists and domain lists by writing the same thing differently:
invisible characters inside words ("f\u200buck"), compatibility forms ("ｆｒｅｅ",
"𝐅𝐑𝐄𝐄"), Arabic written with or without hamza, diacritics or tatweel ("حمـــار"),
Arabic-Indic digits, digits and symbols for letters ("fr33", "a$$"), letters of another
script that look Latin ("Раypal" with a Cyrillic Р and а). The functions here undo
those variations so that a rule compares one canonical form:

- `normalise(text)`: invisible and format characters removed (and recorded), NFKC,
  Arabic normalised, Arabic-Indic and Persian digits as ASCII. Case and letters kept.
- `normalise_for_matching(text)`: that, case-folded, with common leetspeak undone
  inside words (never in numbers: "483920" stays a code). For word lists.
- `skeleton(text)`: a visual skeleton in the spirit of Unicode TR39: look-alike
  letters of other scripts and digits for letters mapped onto one ASCII letter, so
  "nbк", "n8k" and "nbk" agree. For brand names in domains and sender IDs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# --- invisible and format characters --------------------------------------------------

# Characters that show nothing (or only change how neighbours are drawn) and so can be
# slipped into a word without a reader seeing them. Unicode's format characters (Cf),
# except the Arabic, Syriac and other "prepended concatenation marks" (U+0600..0605,
# U+06DD, U+070F, U+0890..0891, U+08E2, U+110BD, U+110CD) which are drawn, and the
# Egyptian hieroglyph controls; plus the blank-looking letters and marks that are not
# Cf: the combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian
# variation selectors, the Braille blank and the variation selectors.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors, vowel separator
    (0x200B, 0x200F),  # zero-width space, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated
    (0x2800, 0x2800),  # Braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tag characters ("ASCII smuggling")
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
INVISIBLE: frozenset[str] = frozenset(
    chr(code) for first, last in _INVISIBLE_RANGES for code in range(first, last + 1)
)
# Bidirectional controls: they reorder what a reader sees, not only hide.
BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Overrides draw the characters after them in the forced direction: "moc.knb" shows
# as "bnk.com". Ordinary bidirectional text never needs them (it uses marks/isolates).
BIDI_OVERRIDES: frozenset[str] = frozenset("\u202d\u202e")
# Zero-width (non-)joiners are ordinary in Persian and Arabic typography between two
# letters of that script (they choose a letter's joined form); elsewhere they only hide.
JOINERS: frozenset[str] = frozenset("\u200c\u200d")

_INVISIBLE_CHAR = re.compile(
    "[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in _INVISIBLE_RANGES) + "]"
)

# --- Arabic ------------------------------------------------------------------------

_ARABIC_REPLACEMENTS: dict[str, str] = {
    # alef with hamza above/below, with madda, wasla, wavy hamza -> bare alef
    **dict.fromkeys("أإآٱٲٳ", "ا"),
    "ى": "ي",  # alef maqsura -> ya (written interchangeably at word ends)
    "ة": "ه",  # ta marbuta -> ha (same)
    "ک": "ك",  # Persian keheh -> kaf
    "ی": "ي",  # Persian ya -> ya
    "ـ": "",  # tatweel: stretches a word, means nothing
    "٫": ".",  # Arabic decimal separator
    "٬": ",",  # Arabic thousands separator
    # Arabic-Indic and extended (Persian/Urdu) digits
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
}
# Harakat and Quranic annotation marks: optional vowel signs a writer may add or not.
for _first, _last in (
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
):
    _ARABIC_REPLACEMENTS.update(dict.fromkeys(map(chr, range(_first, _last + 1)), ""))
_ARABIC_VARIANT = re.compile("[" + re.escape("".join(_ARABIC_REPLACEMENTS)) + "]")


def normalise_arabic(text: str) -> str:
    """Arabic as matching compares it: one alef, ى as ي, ة as ه, no tatweel or
    diacritics, Persian letters as their Arabic counterparts, digits as ASCII."""
    # Most characters need no change: find the few that do (a regular expression
    # scans far faster than str.translate looks up every character).
    if _ARABIC_VARIANT.search(text) is None:
        return text
    return _ARABIC_VARIANT.sub(_arabic_replacement, text)


def _arabic_replacement(match: re.Match[str]) -> str:
    return _ARABIC_REPLACEMENTS[match.group()]


# --- the normaliser ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalisedText:
    text: str
    # The invisible and format characters removed, each once, in order of appearance:
    # their presence is itself a signal (see secgate.checks.obfuscation).
    removed: tuple[str, ...] = ()


def normalise(text: str) -> NormalisedText:
    """Invisible characters removed, NFKC (full-width and styled letters become plain
    ones, ligatures split), Arabic normalised, all digits ASCII. Case is kept."""
    if text.isascii():  # most messages: nothing to do
        return NormalisedText(text)
    removed: tuple[str, ...] = ()
    if _INVISIBLE_CHAR.search(text):
        removed = tuple(dict.fromkeys(_INVISIBLE_CHAR.findall(text)))
        text = _INVISIBLE_CHAR.sub("", text)
    return NormalisedText(normalise_arabic(unicodedata.normalize("NFKC", text)), removed)


# Leetspeak undone inside a word that has at least one letter: "fr33" -> "free",
# "a$$" -> "ass", "sh!t" -> "shit". "1" stands for "i" or "l"; it becomes "i" and
# word lists treat "i" and "l" as one letter. A "!" ending a word is punctuation.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s", "!": "i"}
)
_LEET_TOKEN = re.compile(r"[a-z0-9@$!]+")
_ASCII_LETTER = re.compile(r"[a-z]")
_LEET_NEXT_TO_LETTER = re.compile(r"[a-z][0-9@$!]|[0-9@$!][a-z]")


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    if not _ASCII_LETTER.search(token):  # a number, a price: left alone
        return token
    core = token.rstrip("!")
    return core.translate(_LEET) + token[len(core) :]


def normalise_for_matching(text: str) -> str:
    """`normalise(text)` case-folded with leetspeak undone in words, for word lists."""
    folded = normalise(text).text.casefold()
    if _LEET_NEXT_TO_LETTER.search(folded) is None:  # the usual case: nothing to undo
        return folded
    return _LEET_TOKEN.sub(_unleet, folded)


# --- skeleton ------------------------------------------------------------------------

# Digits and symbols that stand for letters in names ("0OREDOO", "N8K", "Z4IN").
_NAME_LEET = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}
)
# Lower-case Cyrillic and Greek letters that look like Latin letters in most fonts but
# that the confusables data (which pairs them with small capitals) does not map.
_EXTRA_LOOKALIKES = {"к": "k", "κ": "k", "м": "m", "н": "h", "в": "b", "т": "t", "ı": "i"}
# Visually ambiguous ASCII folded onto one letter, as TR39's skeleton does.
_AMBIGUOUS = str.maketrans({"i": "l", "1": "l", "|": "l", "!": "l", "0": "o"})
_DIGRAPHS = (("rn", "m"), ("vv", "w"))


@functools.cache
def latin_lookalikes() -> dict[str, str]:
    """Each non-ASCII character that Unicode's confusables data (as shipped by
    `confusable_homoglyphs`) pairs with an ASCII letter or digit, mapped onto it
    (a lower-case letter preferred, then a digit), plus a few letters it misses."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        ascii_glyphs = [
            g["c"] for g in homoglyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()
        ]
        if ascii_glyphs:
            best = min(ascii_glyphs, key=lambda c: (not c.islower(), not c.isdigit(), c))
            table[char] = best.lower()
    table.update(_EXTRA_LOOKALIKES)
    return table


def skeleton(text: str) -> str:
    """What `text` looks like, as lower-case ASCII where it can: invisible characters
    removed, look-alike letters of other scripts and digits for letters replaced, and
    i/l/1, o/0, rn/m, vv/w each folded into one. Two strings with the same skeleton
    can be mistaken for each other. Separators are kept: callers decide about them."""
    text = unicodedata.normalize("NFKC", _INVISIBLE_CHAR.sub("", text))
    if not text.isascii():
        table = latin_lookalikes()
        text = "".join(table.get(char, char) for char in text).casefold()
        text = "".join(table.get(char, char) for char in text)
    text = text.lower().translate(_NAME_LEET).translate(_AMBIGUOUS)
    for digraph, letter in _DIGRAPHS:
        text = text.replace(digraph, letter)
    return text
