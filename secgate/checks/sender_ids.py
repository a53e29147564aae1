"""Sender-ID guard: protected names (operators, banks, government, big brands) and the
IDs that imitate them.

A protected name (registry: `secgate.checks.protected_senders`) may be used only by
the accounts that own it; everyone else is refused with ERR008, for the name itself
and for anything that reads as it. An ID is read in three ways, each building on the
one before:

1. Plain: letters and digits in capitals; invisible format characters dropped;
   anything else separates ("N.B.K", "nbk-kw", "N_B_K", "N B K").
2. Look-alike characters (`Skeleton`): every character reduced to the ASCII letter or
   digit it imitates: compatibility forms (fullwidth "ＮＢＫ", mathematical letters),
   accents dropped ("ZÀIN"), invisible format characters removed, and the Unicode
   TR39 confusables ("ZАIN" with a Cyrillic А, Greek Κ...). "I" and "l" look alike
   in most fonts, so each is read as either ("ZAlN").
3. Digits and symbols for letters (`DigitsForLetters`): 0→O, 1→I/L, 2→Z, 3→E, 4→A,
   5→S, 6→G, 7→T, 8→B, 9→G, |→I/L, !→I, @→A, $→S, €→E, (→C, +→T ("Z4IN", "N8K",
   "0OREDOO", "K|B"), in IDs that have letters: "96550000000" stays a number. Each
   run of such characters is read both ways, so "NBK24" is still NBK followed by 24.

In a reading, the ID is cut into parts at separators and between letters and digits;
runs of single characters join ("N.B.K-ALERT" is NBK and ALERT). A name matches when:

- it equals the whole ID;
- names of at least `sender_guard_edit_min_chars` characters (default 6): the ID is
  within `sender_guard_max_edits` (default 1) insertions, deletions, substitutions or
  swaps of neighbours (`EditDistance`, Damerau-Levenshtein) of it ("OOREDO",
  "GOOGEL"). Shorter names never match fuzzily: one letter off STC is ETC, SMC, SIC;
  off ZAIN is RAIN, GAIN, MAIN; off VIVA is VISA; off WARBA is WARDA.
- it is embedded (`Embedding`): it equals a part of the ID, or what is left when a
  common word (`AFFIXES`: BANK, KW, ALERT, PAY, MY...) is taken off the start or end
  ("NBK-ALERT", "KFHBANK", "MYZAIN", "STC2024"); names of at least
  `sender_guard_embed_min_chars` characters (default 6) also anywhere inside the ID
  ("XOOREDOOX"). So short names inside ordinary words pass: "KIBBLE", "STCLAIR",
  "FASTCAR", "ABKAR", "ZAINAB", "PINEAPPLE".

A match is explained by its strongest kind (equal, then embedded, then within edits)
in the plainest reading that shows it: "0OREDOO" is OOREDOO with a digit for a letter,
not OOREDOO with one character changed.

The guard (`SenderIdGuard`) refuses a sender that matches a protected name its
account does not own; with no account (the check endpoint) every match is refused.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, passed, rejected
from secgate.settings import Settings
from secgate.storage.models import AlertSeverity

ALERT_TYPE = "sms.sender_id_blocked"
REFUSAL_CODE = "ERR008"

# A sender ID is at most 11 characters; the check endpoint may be sent anything, and
# only this much of it is examined.
MAX_SENDER_CHARS = 64
# Readings of one ID at most (each ambiguous character doubles them).
MAX_READINGS = 64
# What a reason shows of the sender, at most.
SHOWN_CHARS = 32

# Words that brands put beside their name in sender IDs. A short name (under
# `sender_guard_embed_min_chars`) is found inside a longer ID only as a whole part of
# it or next to one of these. Two letters at least: a single letter would make
# "KIBE" a KIB.
AFFIXES = frozenset(
    """ALERT ALERTS APP AUTH BANK CARD CARE CODE EXPRESS GOV GROUP HELP ID INFO KSA
    KUWAIT KW KWT MOBILE MSG MY NET NEWS OFFER OFFERS OFFICIAL ONLINE OTP PAY PAYMENT
    Q8 SECURE SERVICE SMS SUPPORT TEAM TEL TELECOM THE TV UAE VERIFY""".split()  # noqa: SIM905
)


class Technique(enum.StrEnum):
    """How a sender ID resembles a protected name; the order is that of explanations."""

    EMBEDDED = "embedded"
    EDIT_DISTANCE = "edit_distance"
    DIGITS = "digits_for_letters"
    CONFUSABLES = "look_alike_characters"
    SEPARATORS = "separators"
    CASE = "case"
    EXACT = "exact"


_PHRASES = {
    Technique.EMBEDDED: "the name inside a longer ID",
    Technique.EDIT_DISTANCE: "a character added, dropped, changed or swapped",
    Technique.DIGITS: "digits or symbols for letters",
    Technique.CONFUSABLES: "look-alike or invisible characters",
    Technique.SEPARATORS: "separators between the letters",
    Technique.CASE: "another case",
    Technique.EXACT: "the name itself",
}
_ORDER = {technique: rank for rank, technique in enumerate(Technique)}


@dataclass(frozen=True, slots=True)
class LookAlikeRules:
    """The thresholds of the matching (see the module docstring)."""

    max_edits: int
    edit_min_chars: int
    embed_min_chars: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LookAlikeRules:
        """The thresholds of `settings`; their defaults when None."""
        settings = Settings() if settings is None else settings
        return cls(
            max_edits=settings.sender_guard_max_edits,
            edit_min_chars=settings.sender_guard_edit_min_chars,
            embed_min_chars=settings.sender_guard_embed_min_chars,
        )


@dataclass(frozen=True, slots=True)
class SenderMatch:
    """A sender ID that resembles a protected name, and how."""

    protected: str
    sender: str
    # The main technique first (the one `technique` names), then the others used.
    techniques: tuple[Technique, ...]

    @property
    def technique(self) -> Technique:
        return self.techniques[0]

    @property
    def reason(self) -> str:
        shown = _shown(self.sender)
        if self.technique is Technique.EXACT:
            return (
                f"Sender ID {shown!r} is the protected name {self.protected}, "
                "which only its owners may use"
            )
        how = ", ".join(_PHRASES[technique] for technique in self.techniques)
        return (
            f"Sender ID {shown!r} looks like {self.protected}: {how}; "
            "only the owners of a protected name may use it or its look-alikes"
        )

    def details(self) -> dict[str, Any]:
        return {
            "protected": self.protected,
            "technique": str(self.technique),
            "techniques": [str(technique) for technique in self.techniques],
            "sender": self.sender,
        }


@dataclass(frozen=True, slots=True)
class ProtectedName:
    name: str  # capitals and digits, as `canonical_name` gives
    owner_ids: frozenset[int] = frozenset()


# --- readings ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read an ID: capitals, digits and " " between parts."""

    text: str
    techniques: frozenset[Technique]  # what made this reading (case, look-alikes...)
    parts: tuple[str, ...] = field(init=False)
    compact: str = field(init=False)

    def __post_init__(self) -> None:
        parts = _parts(self.text)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "compact", "".join(parts))


_RUN = re.compile(r"[A-Z]+|[0-9]+")


def _parts(text: str) -> tuple[str, ...]:
    """Letters and digits cut at separators (" ") and between letters and digits;
    consecutive single characters join again ("N B K ALERT" -> NBK, ALERT)."""
    runs = [run for piece in text.split() for run in _RUN.findall(piece)]
    parts: list[str] = []
    singles = ""
    for run in runs:
        if len(run) == 1:
            singles += run
            continue
        if singles:
            parts.append(singles)
            singles = ""
        parts.append(run)
    if singles:
        parts.append(singles)
    return tuple(parts)


class Normalisation:
    """Reading 1: ASCII letters in capitals and digits; invisible format characters
    (zero-width spaces, direction marks) dropped; every other character separates."""

    def read(self, sender: str) -> Reading:
        techniques = set()
        if any(c.isascii() and c.islower() for c in sender):
            techniques.add(Technique.CASE)
        visible = "".join(c for c in sender if unicodedata.category(c) != "Cf")
        if visible != sender:
            techniques.add(Technique.CONFUSABLES)
        text = "".join(c.upper() if c.isascii() and c.isalnum() else " " for c in visible)
        return Reading(text, frozenset(techniques))


# "I" and "l" (and what imitates either) read as both letters.
_I_OR_L = "IL"


class Skeleton:
    """Reading 2: each character as the ASCII letter or digit it looks like.

    Compatibility forms (NFKC), accents (NFD, marks dropped), invisible format
    characters (dropped) and the Unicode TR39 confusables that `confusable_homoglyphs`
    ships (its table, reduced to the characters whose prototype is an ASCII letter or
    digit). A character that resembles nothing of ASCII separates; ASCII punctuation
    is kept for `DigitsForLetters`.
    """

    def options(self, sender: str) -> list[tuple[str, ...]]:
        """For each character, the strings it may read as."""
        return [self._char_options(char) for char in sender]

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _char_options(char: str) -> tuple[str, ...]:
        if char in "Il":
            return tuple(_I_OR_L)
        if char.isascii():
            return (char.upper(),)
        readings = [""]
        for part in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", char)):
            if unicodedata.category(part) in {"Mn", "Me", "Cf"}:
                continue  # accents and invisible characters
            choices = _part_options(part)
            readings = [r + choice for r in readings for choice in choices]
        return tuple(dict.fromkeys(readings))


def _part_options(char: str) -> tuple[str, ...]:
    if char in "Il":
        return tuple(_I_OR_L)
    if char.isascii() or char in LEET:
        return (char.upper(),)
    prototype = _ascii_prototypes().get(char)
    if prototype is None:
        return (" ",)
    if prototype == "l":
        return tuple(_I_OR_L)
    return (prototype.upper(),)


@functools.cache
def _ascii_prototypes() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit TR39 says it is confused with.

    `confusable_homoglyphs` stores confusables.txt in both directions; a non-ASCII
    character's entries that are ASCII letters or digits are its prototype (the
    table has no character with two such entries; a test keeps it so)."""
    # Imported on first use: loading the 900 kB table takes some 60 ms, which the
    # command line and IDs without non-ASCII characters need not pay.
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, entries in confusables_data.items():
        char = _without_marks(char)
        if len(char) != 1 or char.isascii():
            continue
        ascii_entries = {
            glyph
            for entry in entries
            if (glyph := _without_marks(entry["c"])).isascii() and glyph.isalnum()
        }
        if len(ascii_entries) == 1:
            table[char] = ascii_entries.pop()
    return table


def _without_marks(text: str) -> str:
    # The table wraps right-to-left characters in left-to-right marks.
    return text.replace("\u200e", "").replace("\u200f", "")


# Digits and symbols written for letters; several letters where either is meant.
LEET = {
    "0": "O",
    "1": _I_OR_L,
    "2": "Z",
    "3": "E",
    "4": "A",
    "5": "S",
    "6": "G",
    "7": "T",
    "8": "B",
    "9": "G",
    "|": _I_OR_L,
    "!": "I",
    "@": "A",
    "$": "S",
    "€": "E",
    "(": "C",
    "+": "T",
}
_LEET_RUN = re.compile("[" + re.escape("".join(LEET)) + "]+")


class DigitsForLetters:
    """Reading 3: runs of digits and symbols in an ID that has letters, read as the
    letters they stand for ("N8K", "Z4IN", "K|B"). Each run is read both ways, as
    letters and as it is (a trailing "24" is more often a number than "ZA")."""

    def read(self, text: str) -> Iterator[str]:
        """`text`: a skeleton reading (capitals, digits, ASCII punctuation). Yields each
        reading with at least one run taken as letters."""
        if not any(c.isalpha() for c in text):
            return  # "96550000000": a number, not a word
        runs = [(run.start(), run.end()) for run in _LEET_RUN.finditer(text)]
        # Each run: kept (None) or one of its letter readings.
        choices = [
            [None, *("".join(p) for p in itertools.product(*(LEET[c] for c in text[a:b])))]
            for a, b in runs
        ]
        for picked in itertools.islice(itertools.product(*choices), 1, MAX_READINGS):
            pieces, last = [], 0
            for (start, end), letters in zip(runs, picked, strict=True):
                pieces.append(text[last:start])
                pieces.append(text[start:end] if letters is None else letters)
                last = end
            pieces.append(text[last:])
            yield "".join(pieces)


def readings(sender: str) -> list[Reading]:
    """Every reading of `sender`, plainest first; each text once."""
    sender = sender[:MAX_SENDER_CHARS]
    plain = Normalisation().read(sender)
    found: dict[str, Reading] = {plain.text: plain}
    look_alike = plain.techniques | {Technique.CONFUSABLES}
    skeletons = [
        "".join(choice)
        for choice in itertools.islice(itertools.product(*Skeleton().options(sender)), MAX_READINGS)
    ]
    for skeleton in skeletons:
        text = _separated(skeleton)
        if text not in found:
            found[text] = Reading(text, look_alike)
    digits = DigitsForLetters()
    for skeleton in skeletons:
        changed = _separated(skeleton) != plain.text
        techniques = (look_alike if changed else plain.techniques) | {Technique.DIGITS}
        for text in map(_separated, digits.read(skeleton)):
            if text not in found and len(found) < MAX_READINGS * 2:
                found[text] = Reading(text, techniques)
    return list(found.values())


def _separated(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else " " for c in text)


# --- comparing -----------------------------------------------------------------------


class EditDistance:
    """Damerau-Levenshtein distance (optimal string alignment): insertions,
    deletions, substitutions and swaps of neighbours, each one edit."""

    def within(self, a: str, b: str, limit: int) -> bool:
        if abs(len(a) - len(b)) > limit:
            return False
        if a == b:
            return True
        if limit == 1:  # the default, on every send: a linear test, not the table
            return _one_edit_apart(a, b)
        return limit > 1 and self.distance(a, b) <= limit

    @staticmethod
    def distance(a: str, b: str) -> int:
        previous2: list[int] = []
        previous = list(range(len(b) + 1))
        for i in range(1, len(a) + 1):
            current = [i] + [0] * len(b)
            for j in range(1, len(b) + 1):
                cost = 0 if a[i - 1] == b[j - 1] else 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    current[j] = min(current[j], previous2[j - 2] + 1)
            previous2, previous = previous, current
        return previous[len(b)]


def _one_edit_apart(a: str, b: str) -> bool:
    """True when distinct `a` and `b` (lengths at most one apart) are one edit apart."""
    if len(a) < len(b):
        a, b = b, a
    i = 0
    while i < len(b) and a[i] == b[i]:
        i += 1
    if len(a) > len(b):  # one character more in a
        return a[i + 1 :] == b[i:]
    if a[i + 1 :] == b[i + 1 :]:  # one substitution
        return True
    return a[i + 1 : i + 2] == b[i : i + 1] and a[i] == b[i + 1] and a[i + 2 :] == b[i + 2 :]


_AFFIX_MAX_CHARS = max(map(len, AFFIXES))
_AFFIX_MIN_CHARS = min(map(len, AFFIXES))


class Embedding:
    """The pieces of an ID a name may be embedded as: each part, and what is left
    when common words (`AFFIXES`) are taken off either end of the whole or a part."""

    def pieces(self, reading: Reading) -> set[str]:
        found = set(reading.parts) | {reading.compact}
        pending = list(found)
        while pending:
            piece = pending.pop()
            for rest in _without_affixes(piece):
                if rest not in found:
                    found.add(rest)
                    pending.append(rest)
        found.discard(reading.compact)
        return found


def _without_affixes(piece: str) -> Iterator[str]:
    for length in range(_AFFIX_MIN_CHARS, min(_AFFIX_MAX_CHARS, len(piece) - 1) + 1):
        if piece[:length] in AFFIXES:
            yield piece[length:]
        if piece[-length:] in AFFIXES:
            yield piece[:-length]


# --- the matcher ---------------------------------------------------------------------

# Match results kept per sender by a matcher, at most (cleared when full).
MATCH_CACHE_SIZE = 10_000


class SenderMatcher:
    """The protected names compiled for matching; immutable, shared by every check
    until the registry changes."""

    def __init__(self, names: Iterable[ProtectedName], rules: LookAlikeRules) -> None:
        self.names: Mapping[str, ProtectedName] = {n.name: n for n in names}
        self.rules = rules
        # Names matched within edits, by length: a piece is compared only with names
        # whose length is within the edits of its own.
        self._fuzzy: dict[int, list[str]] = {}
        for name in self.names:
            if len(name) >= rules.edit_min_chars:
                self._fuzzy.setdefault(len(name), []).append(name)
        self._inside = [n for n in self.names if len(n) >= rules.embed_min_chars]
        self._edits = EditDistance()
        self._embedding = Embedding()
        self._cache: dict[str, tuple[SenderMatch, ...]] = {}

    def matches(self, sender: str) -> tuple[SenderMatch, ...]:
        """Every protected name `sender` resembles, each once (only the first
        MAX_SENDER_CHARS characters are examined, and kept in the matches)."""
        sender = sender[:MAX_SENDER_CHARS]
        cached = self._cache.get(sender)
        if cached is not None:
            return cached
        result = tuple(self._match(sender)) if self.names else ()
        if len(self._cache) >= MATCH_CACHE_SIZE:
            self._cache.clear()
        self._cache[sender] = result
        return result

    def unowned_match(self, sender: str, account_id: int | None) -> SenderMatch | None:
        """The first match with a name `account_id` does not own (None: every match is
        refused)."""
        for match in self.matches(sender):
            if account_id is None or account_id not in self.names[match.protected].owner_ids:
                return match
        return None

    def _match(self, sender: str) -> Iterator[SenderMatch]:
        # Per name, the strongest kind of match (equal, then embedded, then within
        # edits), and among those the plainest reading.
        best: dict[str, tuple[int, int, set[Technique]]] = {}
        for order, reading in enumerate(readings(sender)):
            for strength, name, techniques in self._match_reading(reading):
                if name not in best or (strength, order) < best[name][:2]:
                    best[name] = (strength, order, techniques)
        for name, (_, _, techniques) in sorted(best.items(), key=lambda item: item[1][:2]):
            yield SenderMatch(name, sender, _explained(techniques))

    def _match_reading(self, reading: Reading) -> Iterator[tuple[int, str, set[Technique]]]:
        """(strength: 0 is strongest, name, techniques) of each name the reading matches."""
        compact, rules = reading.compact, self.rules
        if not compact:
            return
        base = set(reading.techniques)
        if compact in self.names:
            separated = len(reading.text.split()) > 1
            yield 0, compact, base | ({Technique.SEPARATORS} if separated else set())
        pieces = self._embedding.pieces(reading)
        for piece in pieces:
            if piece in self.names:
                yield 1, piece, base | {Technique.EMBEDDED}
        for name in self._inside:
            if name in compact and name != compact:
                yield 1, name, base | {Technique.EMBEDDED}
        for name in self._near(compact):
            if self._edits.within(compact, name, rules.max_edits):
                yield 2, name, base | {Technique.EDIT_DISTANCE}
        for piece in pieces:
            for name in self._near(piece):
                if self._edits.within(piece, name, rules.max_edits):
                    yield 3, name, base | {Technique.EMBEDDED, Technique.EDIT_DISTANCE}

    def _near(self, text: str) -> Iterator[str]:
        """Fuzzy-matched names whose length is within the edit limit of `text`'s."""
        edits = self.rules.max_edits
        for length in range(len(text) - edits, len(text) + edits + 1):
            yield from self._fuzzy.get(length, ())


def _explained(techniques: set[Technique]) -> tuple[Technique, ...]:
    if not techniques:
        return (Technique.EXACT,)
    return tuple(sorted(techniques, key=_ORDER.__getitem__))


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


# --- the check -----------------------------------------------------------------------


class MatcherSource(Protocol):
    """Where the guard gets the current protected names (`ProtectedSenderCache`)."""

    async def matcher(self) -> SenderMatcher:
        """The compiled registry; raises CheckStoreUnavailable when it cannot be read."""
        ...


class SenderIdGuard:
    """ERR008: the sender is a protected name, or looks like one, and the account does
    not own it. Fails closed: when the registry cannot be read (and nothing is
    cached) the source raises CheckStoreUnavailable, and the send is refused ERR013."""

    name = "sender_id"
    fails: FailMode = "closed"

    def __init__(self, source: MatcherSource) -> None:
        self._source = source

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        matcher = await self._source.matcher()
        match = matcher.unowned_match(message.sender, message.account_id)
        if match is None:
            return passed(self.name)
        return rejected(self.name, REFUSAL_CODE, match.reason, **match.details())


def alert_for(result: CheckResult, message: MessageUnderCheck) -> dict[str, Any] | None:
    """The `AlertSink.raise_alert` arguments for a result of the guard: every refusal
    raises `sms.sender_id_blocked` (None for a pass). Repeats fold per account (per
    client address on the check endpoint, which has no account)."""
    if result.check != SenderIdGuard.name or result.code != REFUSAL_CODE:
        return None
    return {
        "type": ALERT_TYPE,
        "severity": AlertSeverity.HIGH,
        "account_id": message.account_id,
        "ip": message.client_ip,
        "details": {**result.details, "reason": result.reason},
    }
