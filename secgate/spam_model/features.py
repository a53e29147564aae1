"""What the spam model sees of a message: the text normalised, then character and word
n-grams.

The model is trained on one English corpus and judged on traffic it has never seen, so
the normalisation takes away what spammers vary to slip past a filter, and what would
let the model memorise its corpus instead of learning how spam reads:

- Unicode: NFKC (fullwidth and "mathematical" letters become plain ones), invisible
  format and bidirectional control characters removed, accents and Arabic diacritics
  dropped, Arabic letter variants folded (أ إ آ ٱ → ا, ى → ي, ة → ه, no tatweel),
  Arabic-Indic digits made ASCII, Cyrillic and Greek look-alikes inside Latin words
  made Latin ("Рaypal" → "paypal").
- Case folded; a letter repeated three times or more kept twice ("freeeee" → "free").
- Look-alike digits and symbols inside words read as the letters they stand for
  ("fr33" → "free", "c4sh" → "cash", "v!agra" → "viagra").
- Every digit becomes 0: the shape of a number stays ("00000" a short code,
  "0000 000 0000" a phone number, "¤0.00" a price, "000p" a premium rate), which
  number it is does not (a campaign's short code would be memorised, and would not
  recur elsewhere).
- Every currency sign or code before or after an amount becomes "¤": in the training
  corpus "£" is British spam and "$" Singaporean chat, a difference no other traffic
  would share.
- Links and e-mail addresses replaced by a placeholder (URLTOKEN, EMAILTOKEN); a link
  keeps the name of its site beside it ("https://www.aramex.com/t/1" → "URLTOKEN
  aramex", "bit.ly/x" → "URLTOKEN bit"). In the 2011 corpus nearly every link is spam,
  so a bare placeholder taught "a link is spam", and today's delivery and bank notices
  carry links; with the site's name the model can tell a courier's link from a
  shortener or "kfh-verify". (Whether a link is itself dangerous, a bare IP or a
  look-alike of a protected brand, is secgate.checks.links' work, not this model's.)

Every function the saved model refers to must be a module-level function of this
module, listed in `TRUSTED_FUNCTIONS`: loading the model file trusts exactly those
(secgate.spam_model.model_file), and changing what one of them does changes what a
saved model sees. Retrain after such a change.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.sparse import csr_matrix

# The placeholders are upper case and the normalised text is lower case, so a
# placeholder never meets a word of the message in the n-grams.
URL = " URLTOKEN "
EMAIL = " EMAILTOKEN "
CURRENCY = "¤"

# The SMS Spam Collection anonymised numbers, times and links in its ham as
# "&lt;#&gt;", "&lt;DECIMAL&gt;"...: left as they are they would be a perfect sign of
# ham that no real message carries, so they become what real text would give.
_CORPUS_PLACEHOLDERS = {
    "<#>": "0",
    "<decimal>": "0.0",
    "<time>": "0:00",
    "<url>": URL,
    "<email>": EMAIL,
}
_CORPUS_PLACEHOLDER = re.compile(r"<(?:#|decimal|time|url|email)>")

# Characters that show nothing (zero-width, joiners, soft hyphen, fillers, variation
# selectors, tag characters) or that reorder what is shown (bidi embeddings, overrides,
# isolates, marks): a spammer slips them into words ("fr\u200bee").
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE007F),
    (0xE0100, 0xE01EF),
)
_INVISIBLE = dict.fromkeys(
    code for first, last in _INVISIBLE_RANGES for code in range(first, last + 1)
)
_ARABIC = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ـ": None,  # tatweel: stretches a word, means nothing
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
    }
)
# Cyrillic and Greek letters drawn like Latin ones (lower case: applied after folding).
_LATIN_LOOKALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "с": "c",
        "ԁ": "d",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "у": "y",
        "ѵ": "v",
        "ԝ": "w",
        "х": "x",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ɡ": "g",
        "ı": "i",
    }
)
_MIXED_WORD = re.compile(r"\w*[a-z]\w*")

# Top-level domains a bare domain ("bit.ly/x", "win-now.com") is recognised by; those
# that are also English words ("ok.to", "home.in" for a missing space) only with a path.
_TLDS = (
    "com|net|org|info|biz|io|ly|gl|gd|tk|ml|ga|cf|gq|xyz|top|club|online|site|live|shop"
    "|app|link|click|uk|kw|sa|ae|qa|bh|om|eg|ru|cn|de|fr|es|nl|eu|tv|cc|ws|mobi|pro|win"
    "|bid|loan|vip|icu|buzz|page"
)
_WORD_TLDS = "co|me|to|in|it|us|do|be|is|am|at|no|so|my|as|go|id"
_DOT = r"(?:\.|\s?\[\.\]\s?|\s?\(\.\)\s?)"  # also defanged: "evil[.]com"
_HOST = (
    r"\b[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:" + _DOT + r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_URL = re.compile(
    r"\b(?:h[tx]{2}ps?|ftp)\s?:\s?//\S+"  # a scheme, also defanged: "hxxp://"
    r"|\bwww\d{0,3}" + _DOT + r"\S+"
    r"|" + _HOST + _DOT + r"(?:" + _TLDS + r")\b(?:/\S*)?"
    r"|" + _HOST + _DOT + r"(?:" + _WORD_TLDS + r")/\S*"
)
# A dot (or the bracket of a defanged one, maybe then a space) before a top-level
# domain, and a word-like one before a path: with "//" and "www", what any link has
# ("ok. to" is not one: a plain dot has no space after it in a link). (Each hint starts
# with a character class or a literal, so that the regex engine skips ahead instead of
# trying every position.)
_DOT_TLD = re.compile(r"[.\])](?:(?<=[\])])\s)?(?:(?:" + _TLDS + r")\b|(?:" + _WORD_TLDS + r")/)")
# The host of a link, after its scheme and "www": the name of the site is the label
# before the top-level domain, or before a second-level one ("foo.com.kw", "foo.co.uk").
_LINK_HOST = re.compile(r"(?:[a-z]+\s?:\s?//)?(?:www\d{0,3}" + _DOT + r")?([^/\s?#:]+)")
_HOST_DOT = re.compile(_DOT)
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "edu", "ac"})
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CURRENCY_CODES = "usd|gbp|eur|kwd|kd|sar|aed|qar|bhd|omr|inr|rs"
_MONEY = re.compile(
    r"[£$€¥₹﷼]|د\.?ك"
    r"|\b(?:" + _CURRENCY_CODES + r")\b\.?(?=\s?\d)"  # "kwd 12.500"
    r"|(?<=\d)\s?(?:" + _CURRENCY_CODES + r")\b"  # "12.500 kwd"
)
# Without a digit, only a sign can be money (a code must stand beside an amount).
_CURRENCY_SIGN = re.compile(r"[£$€¥₹﷼]|د\.?ك")
# A look-alike digit or symbol standing for a letter, inside a word: between two
# letters ("c4sh"), two or more of 0, 1, 3 ending a word ("fr33", "c00l"), or $ or @
# starting one ("$ex").
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_LEET_WORD = re.compile(
    r"\b[a-z]+(?:[01345@$!|]+[a-z]+)+\b|\b[a-z]+[013]{2,}\b|(?<!\w)[$@][a-z]+\b"
)
# What every match of _LEET_WORD has: a letter, a look-alike and a letter or look-alike
# ("hi!" at a word's end has not), or "$" or "@" before a letter.
_LEET_HINT = re.compile(r"(?<=[a-z])[01345@$!|][01345@$!|a-z]|[$@][a-z]")
# A character other than a digit three times or more in a row ("freeee", "!!!!").
_REPEATS = re.compile(r"(\D)\1{2,}")
_DIGIT = re.compile(r"\d")
_DIGIT_SHAPE = str.maketrans("123456789", "000000000")
_DIGIT_SHAPE_BYTES = bytes.maketrans(b"123456789", b"000000000")


def normalise(text: str) -> str:
    """The text as the model reads it (see the module's description)."""
    return _finish_searching(_prepare(text))


def _prepare(text: str) -> str:
    # Each pattern runs only where a cheap test says it may match: most messages have
    # no link, many no digit, and this runs for every message sent.
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = _fold_unicode(text)
    text = text.lower()
    if not text.isascii():
        text = _MIXED_WORD.sub(_latin_lookalikes, text)
    if "<" in text:
        text = _CORPUS_PLACEHOLDER.sub(_corpus_placeholder, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if "//" in text or "www" in text or _DOT_TLD.search(text):
        text = _URL.sub(_link, text)
    return text


def _finish_searching(text: str) -> str:
    return _finish(
        text, leet=_LEET_HINT.search(text) is not None, money=_may_be_money(text), repeats=None
    )


def _may_be_money(text: str) -> bool:
    return _DIGIT.search(text) is not None or _CURRENCY_SIGN.search(text) is not None


def _finish(text: str, leet: bool, money: bool, repeats: bool | None) -> str:
    """The rest of `normalise` after `_prepare`. Each flag is False only where its
    pattern cannot match (_LEET_HINT, a digit or currency sign, _REPEATS) the prepared
    text; repeats None: search for them. The flags only spare work: a pattern run where
    it cannot match changes nothing."""
    edited = 0
    if leet:
        text, edited = _LEET_WORD.subn(_unleet, text)
    if money:
        text, count = _MONEY.subn(CURRENCY, text)
        edited += count
    # A "c4a" read as "caa" or a "¤" beside a "¤¤" may make a repeat that was not there.
    if repeats is None or edited:
        repeats = _REPEATS.search(text) is not None
    if repeats:
        text = _REPEATS.sub(r"\1\1", text)
    if text.isascii():  # bytes.translate is a C table lookup; str.translate a dict's
        text = text.encode("ascii").translate(_DIGIT_SHAPE_BYTES).decode("ascii")
    else:
        text = text.translate(_DIGIT_SHAPE)
    return " ".join(text.split())


def _latin_lookalikes(match: re.Match[str]) -> str:
    return match[0].translate(_LATIN_LOOKALIKES)


def _link(match: re.Match[str]) -> str:
    host = _LINK_HOST.match(match[0])
    labels = [label for label in _HOST_DOT.split(host[1]) if label] if host else []
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL:
        return f"{URL}{labels[-3]} "
    if len(labels) >= 2:
        return f"{URL}{labels[-2]} "
    return URL


def _corpus_placeholder(match: re.Match[str]) -> str:
    return _CORPUS_PLACEHOLDERS[match[0]]


def _unleet(match: re.Match[str]) -> str:
    return match[0].translate(_LEET)


def _fold_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_ARABIC)
    # Decomposed, accents and Arabic harakat are combining marks: drop them.
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


# Below this many texts, normalise_all searches each text (numpy's fixed costs would
# outweigh the searches it spares).
_BATCH_HINTS_FROM = 16
# What each ASCII character is to _batch_hints, as bits (index 128: any other character).
_LETTER, _LOOKALIKE, _LEET_SIGN, _MONEY_SIGN = 1, 2, 4, 8
_KIND = np.zeros(129, dtype=np.uint8)
_KIND[ord("a") : ord("z") + 1] |= _LETTER
_KIND[[ord(c) for c in "01345@$!|"]] |= _LOOKALIKE  # what _LEET_WORD reads as letters
_KIND[[ord("$"), ord("@")]] |= _LEET_SIGN  # "$" or "@" before a letter
_KIND[[*range(ord("0"), ord("9") + 1), ord("$")]] |= _MONEY_SIGN  # a digit or "$"


def normalise_all(texts: Iterable[str]) -> list[str]:
    """`normalise` over a batch: the first step of the model's pipeline. The same
    result as normalise on each text; for a batch, the searches that decide which
    patterns to run are done for all the texts at once with numpy (they were most of
    the time of normalise)."""
    prepared = [_prepare(text) for text in texts]
    if len(prepared) < _BATCH_HINTS_FROM:
        return [_finish_searching(text) for text in prepared]
    leet, money, repeats = _batch_hints(prepared)
    return [
        _finish(
            text,
            leet=bool(leet[i]),
            # Other scripts' digits and currency signs but "$" are not in the batch's hints.
            money=bool(money[i]) or (not text.isascii() and _may_be_money(text)),
            repeats=bool(repeats[i]),
        )
        for i, text in enumerate(prepared)
    ]


def _batch_hints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each text: may _LEET_HINT match it; has it an ASCII digit or "$"; has it a character
    other than an ASCII digit three times in a row (what _REPEATS finds, and more: a
    triple of another script's digits, or one running into the separator)."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    # Texts end to end, each followed by a separator (code point 0).
    codes = np.frombuffer(
        (_SEPARATOR.join(texts) + _SEPARATOR).encode("utf-32-le", "surrogatepass"),
        dtype=np.uint32,
    )
    kind = _KIND[np.minimum(codes, 128)]
    letter, lookalike = (kind & _LETTER) != 0, (kind & _LOOKALIKE) != 0
    money = (kind & _MONEY_SIGN) != 0
    digit = money & (codes != ord("$"))
    # Each found at the position where its window starts.
    leet = (letter[:-2] & lookalike[1:-1] & (letter[2:] | lookalike[2:])) | (
        ((kind[:-2] & _LEET_SIGN) != 0) & letter[1:-1]
    )
    triple = (codes[:-2] == codes[1:-1]) & (codes[1:-1] == codes[2:]) & ~digit[:-2]
    starts = np.cumsum(lengths + 1) - lengths - 1
    ends = starts + lengths

    def in_each_text(found: np.ndarray) -> np.ndarray:
        # How many windows start within each text, from a running count.
        running = np.zeros(len(found) + 1, dtype=np.int64)
        np.cumsum(found, out=running[1:])
        return running[np.minimum(ends, len(found))] > running[np.minimum(starts, len(found))]

    return in_each_text(leet), in_each_text(money), in_each_text(triple)


def log_length(texts: Sequence[str]) -> np.ndarray:
    """The natural log of 1 + each (raw) text's length in characters, as a column:
    bulk spam fills its message, chat rarely does."""
    lengths = np.fromiter((len(text) for text in texts), dtype=np.float64, count=len(texts))
    return np.log1p(lengths)[:, None]


# The functions a saved model may refer to, by qualified name (model_file trusts these).
TRUSTED_FUNCTIONS = (
    f"{__name__}.normalise_all",
    f"{__name__}.char_ngram_counts",
    f"{__name__}.word_ngram_counts",
    f"{__name__}.log_length",
)


# --- n-grams, hashed ------------------------------------------------------------------
#
# scikit-learn's vectorizers build n-grams one Python string at a time (~140 µs a
# message for character 2- to 5-grams); here every substring of a batch is hashed at
# once with numpy, so featurisation costs a few µs a message. A polynomial hash of
# every prefix of the batch gives the hash of any substring [i, j) in O(1):
#   h(i, j) = sum c[k] B^(j-1-k) = B^j (S[j] - S[i]),  S[j] = sum_{k<j} c[k] B^-(k+1)
# (arithmetic mod 2^64: numpy's uint64 wraps; B is odd, so it has an inverse).
CHAR_BITS = 18
WORD_BITS = 18
_B = 0x100000001B3  # odd
_B_INVERSE = pow(_B, -1, 2**64)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_SEPARATOR = "\x00"


class HashedTexts:
    """Texts laid end to end as " text " between separators (code point 0), with the
    hash of any substring [start, end) of them (see above)."""

    __slots__ = ("_powers", "_prefix", "codes", "count", "message")

    def __init__(self, texts: Sequence[str]) -> None:
        # An empty text is nothing between two separators, not "  " (a 2-gram).
        joined = _SEPARATOR + "".join(
            f" {text} {_SEPARATOR}" if text else _SEPARATOR for text in texts
        )
        self.count = len(texts)
        self.codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        length = len(self.codes)
        self._powers = np.ones(length + 1, dtype=np.uint64)
        np.cumprod(np.full(length, _B, dtype=np.uint64), out=self._powers[1:])
        inverse_powers = np.cumprod(np.full(length, _B_INVERSE, dtype=np.uint64))
        self._prefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(self.codes * inverse_powers, out=self._prefix[1:])
        # The index of the text each position belongs to (a separator: the one it ends).
        self.message = np.cumsum(self.codes == 0) - 1

    def hash(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return self._powers[end] * (self._prefix[end] - self._prefix[start])

    def window_hashes(self, n: int) -> np.ndarray:
        """hash(i, i + n) for every i from 0 on."""
        count = len(self.codes) - n + 1
        return self._powers[n : n + count] * (self._prefix[n : n + count] - self._prefix[:count])


def _hashed(texts: Sequence[str] | HashedTexts) -> HashedTexts:
    return texts if isinstance(texts, HashedTexts) else HashedTexts(texts)


def _bucket(hashes: np.ndarray, salt: np.ndarray | int, bits: int) -> np.ndarray:
    mixed = (hashes + np.asarray(salt, dtype=np.uint64) * _MIX2) * _MIX
    mixed ^= mixed >> np.uint64(31)
    mixed *= _MIX2
    return (mixed >> np.uint64(64 - bits)).astype(np.int64)


def counted(
    rows: np.ndarray, columns: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (row, column) pairs, sorted by row then column, and how often each
    occurs: one sort of the whole batch (scipy's coo->csr route sorts row by row)."""
    keys = (rows << bits) | columns
    if len(keys) and int(keys.max()) < 1 << 32:
        keys = keys.astype(np.uint32)  # half the bytes to sort: a batch of ~1,000 texts
    keys = np.sort(keys)
    first = np.flatnonzero(np.concatenate(([len(keys) > 0], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(first, len(keys))).astype(np.float64)
    unique = keys[first].astype(np.int64)
    return unique >> bits, unique & ((1 << bits) - 1), counts


def _count_matrix(rows: np.ndarray, columns: np.ndarray, n_rows: int, bits: int) -> csr_matrix:
    distinct_rows, distinct_columns, counts = counted(rows, columns, bits)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(distinct_rows, minlength=n_rows), out=indptr[1:])
    matrix = csr_matrix(
        (counts, distinct_columns.astype(np.int32), indptr), shape=(n_rows, 1 << bits)
    )
    matrix.has_canonical_format = True
    return matrix


def char_ngram_counts(
    texts: Sequence[str], low: int = 2, high: int = 5, bits: int = CHAR_BITS
) -> csr_matrix:
    """Counts of the character `low`- to `high`-grams of each (normalised) text, within
    words: a word is padded with one space each side and no n-gram spans two words (as
    scikit-learn's "char_wb"). Hashed into 2**bits columns."""
    rows, columns = char_ngrams(texts, low, high, bits)
    return _count_matrix(rows, columns, len(texts), bits)


def char_ngrams(
    texts: Sequence[str] | HashedTexts, low: int = 2, high: int = 5, bits: int = CHAR_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """(text index, hashed column) of every character n-gram (see char_ngram_counts)."""
    batch = _hashed(texts)
    codes = batch.codes
    space = np.concatenate(([0], np.cumsum(codes == 32)))
    separator = np.concatenate(([0], np.cumsum(codes == 0)))
    rows, columns = [], []
    for n in range(low, high + 1):
        # The windows [i, i + n) for every i, as slices (no gather until the end):
        # none with a separator inside, nor a space but at its ends.
        count = len(codes) - n + 1
        if count <= 0:
            continue
        keep = np.flatnonzero(
            (separator[n : n + count] == separator[:count])
            & (space[n - 1 : n - 1 + count] == space[1 : 1 + count])
        )
        rows.append(batch.message[keep])
        columns.append(_bucket(batch.window_hashes(n)[keep], n, bits))
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(rows), np.concatenate(columns)


def word_ngram_counts(
    texts: Sequence[str], bigrams: bool = True, bits: int = WORD_BITS
) -> csr_matrix:
    """Counts of the word unigrams (and bigrams) of each (normalised) text; a word is a
    run of letters, digits and underscores (any code point above 127 counts as a
    letter). Hashed into 2**bits columns."""
    rows, columns = word_ngrams(texts, bigrams, bits)
    return _count_matrix(rows, columns, len(texts), bits)


def word_ngrams(
    texts: Sequence[str] | HashedTexts, bigrams: bool = True, bits: int = WORD_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """(text index, hashed column) of every word n-gram (see word_ngram_counts)."""
    batch = _hashed(texts)
    codes, message = batch.codes, batch.message
    word = (codes > 127) | _ASCII_WORD[np.minimum(codes, 127)]
    edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    unigrams = batch.hash(starts, ends)
    rows = [message[starts]]
    columns = [_bucket(unigrams, 1, bits)]
    if bigrams:
        same_message = message[starts[1:]] == message[starts[:-1]]
        first, second = unigrams[:-1][same_message], unigrams[1:][same_message]
        rows.append(message[starts[:-1]][same_message])
        columns.append(_bucket(first * _MIX + second, 2, bits))
    return np.concatenate(rows), np.concatenate(columns)


_ASCII_WORD = np.array([chr(c).isalnum() or c == ord("_") for c in range(128)], dtype=bool)
