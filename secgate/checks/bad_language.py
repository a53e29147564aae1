"""ERR031: bad language, from word lists in English and Arabic.

A listed word matches as a whole word of the message, never inside a longer one:
"Scunthorpe", "class", "assessment" and "cocktail" pass; in Arabic "عكس" (opposite) and
"زبون" (customer) pass although "كس" and "زب" are listed. What a writer does to slip a
word past a list is undone first (`normalise_for_matching`: case, invisible characters,
full-width and styled letters, Arabic spelling variants, leetspeak), and then a word also
matches

- with its letters repeated ("fuuuuck", "حمااار"): each letter of the listed word may
  appear more times, never fewer, so "as" is not "ass";
- spelled out with separators ("f.u.c.k", "f u c k", "f-u-c-k"): a run of three or
  more single letters joined by at most three separator characters each is read as
  one word;
- censored with asterisks ("f*ck", "f**k"): a word of letters and "*", with at least
  two letters and no more asterisks than letters, matches a listed word of the same
  length that agrees on every letter;
- a phrase written as one word ("fuckyou");
- in Arabic, a listed word of three letters or more with the conjunction و/ف, the
  article ال or the vocative يا before it and a pronoun or plural ending after it
  ("وشرموطة", "طيزك"); a two-letter word only alone or with يا attached ("ياكس").
  Whole phrases are listed for words that are ordinary on their own ("يا كلب").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from secgate.checks.text_normalisation import normalise_for_matching
from secgate.checks.verdict import CheckResult, FailMode, MessageUnderCheck, passed, rejected

# A word: letters and digits of any script (after normalisation, no marks are left).
_WORD = re.compile(r"[^\W_]+")
_REPEATS = re.compile(r"(.)\1+")
_RUNS = re.compile(r"(.)\1*")
# Three or more single letters separated by one to three separator characters.
_SPELLED_OUT = re.compile(r"(?<![^\W_])[^\W\d_](?:[\s.\-_*·•|/\\,+~:]{1,3}[^\W\d_]){2,}(?![^\W_])")
_NOT_A_LETTER = re.compile(r"[\W\d_]+")
_CENSORED = re.compile(r"(?<![\w*])[a-z*]*\*[a-z*]*(?![\w*])")

_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_CONJUNCTIONS = ("و", "ف")
_VOCATIVE = "يا"
_ARTICLE = "ال"
_SUFFIXES = ("ها", "هم", "هن", "كم", "كن", "ات", "ين", "ون", "ه", "ك", "ي")
# Affixes are taken off Arabic words only down to this many letters: shorter stems are
# too often part of ordinary words.
_MIN_AFFIXED_STEM = 3


def _key(word: str) -> str:
    """The index key of a word: "l" as "i" (leetspeak "1" is either), repeats once."""
    return _REPEATS.sub(r"\1", word.replace("l", "i"))


def _word_pattern(word: str) -> str:
    """Each letter of `word` at least as many times as it is written there."""
    parts = []
    for match in _RUNS.finditer(word):
        letter, count = match.group(1), len(match.group())
        char = "[il]" if letter in "il" else re.escape(letter)
        parts.append(f"{char}+" if count == 1 else f"{char}{{{count},}}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Entry:
    listed: str  # the entry as listed, normalised
    patterns: tuple[re.Pattern[str], ...]  # one per word, each to match a whole word
    affixable: bool  # Arabic, one word, at least _MIN_AFFIXED_STEM letters

    def matches(self, words: Iterable[str]) -> bool:
        return all(p.fullmatch(w) for p, w in zip(self.patterns, words, strict=True))


@dataclass(frozen=True, slots=True)
class WordList:
    """Listed words and phrases, indexed by the keys of their words."""

    entries: tuple[str, ...]
    _index: dict[tuple[str, ...], list[_Entry]] = field(repr=False)
    _by_length: dict[int, list[str]] = field(repr=False)  # one-word Latin entries
    _phrase_starts: frozenset[str] = field(repr=False)  # keys of phrases' first words
    # Finds the key of an Arabic one-word entry inside a word's key: only such a word
    # can be that entry with affixes.
    _arabic_cores: re.Pattern[str] = field(repr=False)
    longest: int  # words in the longest phrase

    @classmethod
    def of(cls, lines: Iterable[str]) -> WordList:
        entries: dict[str, None] = {}
        for line in lines:
            words = _WORD.findall(normalise_for_matching(line.split("#", 1)[0]))
            if words:
                entries.setdefault(" ".join(words))
        index: dict[tuple[str, ...], list[_Entry]] = {}
        by_length: dict[int, list[str]] = {}
        for listed in entries:
            words = tuple(listed.split())
            arabic = bool(_ARABIC_LETTER.search(listed))
            entry = _Entry(
                listed,
                tuple(re.compile(_word_pattern(w)) for w in words),
                affixable=arabic and len(words) == 1 and len(listed) >= _MIN_AFFIXED_STEM,
            )
            index.setdefault(tuple(map(_key, words)), []).append(entry)
            if len(words) > 1:  # the phrase written as one word
                joined = _Entry(listed, (re.compile(_word_pattern("".join(words))),), False)
                index.setdefault((_key("".join(words)),), []).append(joined)
            elif listed.isascii():
                by_length.setdefault(len(listed), []).append(listed)
        longest = max((len(k) for k in index), default=1)
        starts = frozenset(k[0] for k in index if len(k) > 1)
        cores = sorted({k[0] for k in index if len(k) == 1 and _ARABIC_LETTER.search(k[0])})
        cores_pattern = re.compile("|".join(map(re.escape, cores)) or "(?!)")
        return cls(tuple(entries), index, by_length, starts, cores_pattern, longest)

    def find(self, text: str) -> list[str]:
        """The listed entries that `text` contains, each once: those written as words
        in order of appearance, then those spelled out or censored."""
        norm = normalise_for_matching(text)
        found: dict[str, None] = {}
        words = _WORD.findall(norm)
        # The keys of all words at once: folding and squeezing never join or split
        # words, so the two lists align.
        keys = _WORD.findall(_REPEATS.sub(r"\1", norm.replace("l", "i")))
        index, phrase_starts = self._index, self._phrase_starts
        arabic = not norm.isascii() and _ARABIC_LETTER.search(norm) is not None
        for start, key in enumerate(keys):
            for entry in index.get((key,), ()):
                if entry.matches((words[start],)):
                    found.setdefault(entry.listed)
            if key in phrase_starts:
                for length in range(2, min(self.longest, len(words) - start) + 1):
                    for entry in index.get(tuple(keys[start : start + length]), ()):
                        if entry.matches(words[start : start + length]):
                            found.setdefault(entry.listed)
            if arabic and "\u0621" <= key[0] <= "\u064a" and self._arabic_cores.search(key):
                self._find_affixed(words[start], found)
        for run in _SPELLED_OUT.findall(norm):
            joined = _NOT_A_LETTER.sub("", run)
            for entry in index.get((_key(joined),), ()):
                if entry.matches((joined,)):
                    found.setdefault(entry.listed)
        if "*" in norm:
            for censored in _CENSORED.findall(norm):
                self._find_censored(censored, found)
        return list(found)

    def _find_affixed(self, word: str, found: dict[str, None]) -> None:
        vocatives, stems = _arabic_readings(word)
        for stem in vocatives:
            for entry in self._index.get((_key(stem),), ()):
                if len(entry.patterns) == 1 and entry.matches((stem,)):
                    found.setdefault(entry.listed)
            for entry in self._index.get((_VOCATIVE, _key(stem)), ()):
                if entry.matches((_VOCATIVE, stem)):
                    found.setdefault(entry.listed)
        for stem in stems:
            for entry in self._index.get((_key(stem),), ()):
                if entry.affixable and entry.matches((stem,)):
                    found.setdefault(entry.listed)

    def _find_censored(self, token: str, found: dict[str, None]) -> None:
        letters = len(token) - token.count("*")
        if letters < 2 or letters < token.count("*"):
            return
        for listed in self._by_length.get(len(token), ()):
            if all(t == "*" or _key(t) == _key(e) for t, e in zip(token, listed, strict=True)):
                found.setdefault(listed)


def _arabic_readings(word: str) -> tuple[set[str], set[str]]:
    """The ways to read an Arabic word as a listed word with affixes: (words after an
    attached vocative يا, stems with a conjunction, article or ending taken off)."""
    bases = [word]
    if word.startswith(_CONJUNCTIONS) and len(word) > _MIN_AFFIXED_STEM:
        bases.append(word[1:])
    vocatives: set[str] = set()
    for base in list(bases):
        rest = base[len(_VOCATIVE) :]
        if base.startswith(_VOCATIVE) and len(rest) >= 2:
            vocatives.add(rest)
        # The article and the vocative are both two letters long.
        rest = base[len(_ARTICLE) :]
        if base.startswith((_ARTICLE, _VOCATIVE)) and len(rest) >= _MIN_AFFIXED_STEM:
            bases.append(rest)
    stems = set(bases[1:])
    for base in bases:
        for suffix in _SUFFIXES:
            if base.endswith(suffix) and len(base) - len(suffix) >= _MIN_AFFIXED_STEM:
                stems.add(base[: -len(suffix)])
    stems.discard(word)
    return vocatives, stems


@functools.cache
def load_word_list(*paths: Path) -> WordList:
    """The entries of the given files, one a line ("#" starts a comment); read once."""
    lines: list[str] = []
    for path in paths:
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    return WordList.of(lines)


class BadLanguage:
    """ERR031: the message contains a listed word or phrase (see the module doc)."""

    name = "bad_language"
    # Needs no store: the lists are read when the check is built. Were that to fail,
    # refusing is safer than letting unchecked text through.
    fails: FailMode = "closed"

    def __init__(self, words: WordList) -> None:
        self._words = words

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        found = self._words.find(message.text)
        if found:
            return rejected(self.name, "ERR031", "the message contains bad language", words=found)
        return passed(self.name)
