"""Labelled message files in the SMS Spam Collection layout, and how a corpus is split.

A labelled file holds one message a line: `ham` or `spam`, a TAB, the text (UTF-8).
Before any train/test split the corpus is deduplicated on a loose form of the text,
so that the test part never holds a twin of a training message (the collection
repeats about 400 texts, and many spam templates differ only in a number): otherwise
the test figures measure memory, not generalisation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sklearn.model_selection import train_test_split

LABELS = {"ham": False, "spam": True}
# Fixed so that the held-out part, and so the model card's figures, can be rebuilt.
SPLIT_SEED = 42
TEST_FRACTION = 0.25
# Written for this project (see the model card): transactional ham (one-time codes,
# bank, delivery and appointment notices) and present-day scam spam, in English and
# Arabic, which the 2011 collection lacks. Training adds it to every fit.
SUPPLEMENT_PATH = Path(__file__).resolve().parent / "data" / "supplement.txt"
# A labelled file larger than this is refused rather than read into memory.
MAX_FILE_BYTES = 200 * 1024 * 1024


class CorpusError(ValueError):
    """A labelled file that cannot be used; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    is_spam: bool
    text: str
    line: int = 0  # where it was read (1-based), 0 when made in memory
    group: str = ""  # the supplement's template a message was made from ("" elsewhere)

    @property
    def label(self) -> str:
        return "spam" if self.is_spam else "ham"


def read_labelled(path: str | Path) -> list[LabelledMessage]:
    """Read a labelled file; raise CorpusError on the first line that is not
    `ham|spam<TAB>text`, naming it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CorpusError(f"{path}: {size} bytes is over the {MAX_FILE_BYTES}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_labelled(data, str(path))


def read_supplement(path: str | Path = SUPPLEMENT_PATH) -> list[LabelledMessage]:
    """The supplement: lines `ham|spam<TAB>template<TAB>text`, each message with the
    name of the template it was made from as its group."""
    messages = []
    for message in read_labelled(path):
        group, tab, text = message.text.partition("\t")
        if not tab or not group or not text.strip():
            raise CorpusError(f"{path}: line {message.line}: no template name before the text")
        messages.append(LabelledMessage(message.is_spam, text, message.line, group))
    return messages


def parse_labelled(data: bytes, source: str = "<data>") -> list[LabelledMessage]:
    messages = []
    # Split on \n only: str.splitlines would also split inside a text at \x0b, \x1c, \u2028...
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{source}: line {number}: not UTF-8 (byte {exc.start + 1})") from exc
        label, tab, text = line.partition("\t")
        if not tab:
            raise CorpusError(f"{source}: line {number}: no TAB between label and text")
        if label not in LABELS:
            raise CorpusError(
                f"{source}: line {number}: label {label[:20]!r} is neither 'ham' nor 'spam'"
            )
        if not text.strip():
            raise CorpusError(f"{source}: line {number}: empty text")
        messages.append(LabelledMessage(LABELS[label], text, number))
    if not messages:
        raise CorpusError(f"{source}: no labelled message")
    return messages


def write_labelled(messages: Iterable[LabelledMessage], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for message in messages:
            f.write(f"{message.label}\t{message.text}\n")


_DIGITS = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[\W_]+")


def duplicate_key(text: str) -> str:
    """The form two texts share when one is a twin of the other: NFKC, case-folded,
    each run of digits as one `0`, without whitespace, punctuation or symbols. So
    "Ok..." and "ok", or "Call 09061701461 to claim £900" and "call 09066364589 to
    claim £50", are one text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub("", _DIGITS.sub("0", folded)) or folded.strip()


@dataclass(frozen=True, slots=True)
class Deduplicated:
    messages: list[LabelledMessage]  # the first of each group, in file order
    duplicates: int  # messages dropped as the twin of an earlier one
    conflicting: int  # groups whose twins carry both labels (dropped whole)


def deduplicate(messages: Sequence[LabelledMessage]) -> Deduplicated:
    """Keep the first message of each group of twins (see duplicate_key). A group whose
    twins disagree on the label is dropped whole: neither label can be trusted."""
    labels: dict[str, set[bool]] = {}
    first: dict[str, LabelledMessage] = {}
    for message in messages:
        key = duplicate_key(message.text)
        labels.setdefault(key, set()).add(message.is_spam)
        first.setdefault(key, message)
    conflicting = {key for key, seen in labels.items() if len(seen) > 1}
    kept = [m for key, m in first.items() if key not in conflicting]
    return Deduplicated(kept, len(messages) - len(first), len(conflicting))


def split(
    messages: Sequence[LabelledMessage],
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[list[LabelledMessage], list[LabelledMessage]]:
    """A stratified split (the same spam share on both sides) into training and
    held-out parts; deduplicate first."""
    counts = Counter(m.is_spam for m in messages)
    if len(counts) < 2 or min(counts.values()) < 2:
        raise CorpusError("the corpus needs at least two ham and two spam messages to split")
    train, test = train_test_split(
        list(messages),
        test_size=test_fraction,
        random_state=seed,
        stratify=[m.is_spam for m in messages],
    )
    return list(train), list(test)


def texts_and_labels(messages: Sequence[LabelledMessage]) -> tuple[list[str], list[bool]]:
    return [m.text for m in messages], [m.is_spam for m in messages]
