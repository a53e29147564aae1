"""The rules a send must pass before it is charged, each a small check.

`SmsService` reads a request into a `Draft` (the account as it stands, the text and
its encoding, the numbers read and normalised) and runs the checks of
`default_checks()` over it in order; the first that refuses decides the answer, as a
kwtSMS error code with its reason. A check denies by returning, never by raising.

Two rules need more than the draft and live here too: `RecentNumbers` (ERR028, one
send to a number per account within a time window, held in the hot state) and the
balance (ERR010/ERR011, settled by the atomic charge in `secgate.sms.credits`).
"""

from __future__ import annotations

import functools
import html
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import phonenumbers

from secgate.hotstate.protocol import HotState, HotStateUnavailable
from secgate.settings import Settings
from secgate.sms.encoding import MessageEncoding
from secgate.sms.numbers import InvalidNumber, normalize_msisdn

log = logging.getLogger("secgate.sms")

# What a refusal description shows of text the client sent, at most.
SHOWN_CHARS = 32


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: str | None = None  # "ERR0xx" (kwtSMS meaning) when the send is refused
    reason: str = ""
    # Seconds after which the same send may pass, for a refusal that ends (ERR028).
    retry_after_s: float | None = None

    @property
    def refused(self) -> bool:
        return self.code is not None


PASSED = CheckResult()


@dataclass(frozen=True, slots=True)
class SendingAccount:
    """The account as the send found it."""

    id: int
    mobile: str
    home_country: str
    activated_countries: frozenset[str]
    sender_ids: frozenset[str]
    # Those of `sender_ids` registered as transactional (keyword-only: the fields after
    # it have no default).
    transactional_sender_ids: frozenset[str] = field(default=frozenset(), kw_only=True)
    balance: int
    low_balance_threshold: int | None


@dataclass(frozen=True, slots=True)
class NumberReading:
    """The numbers of a send, read under a limit. Over the limit nothing is read."""

    given: int  # entries given, blank ones not counted
    limit: int
    valid: tuple[str, ...] = ()  # normalised, each once, in the order first given
    invalid: tuple[str, ...] = ()  # entries that are not mobile numbers, as given


@dataclass(frozen=True, slots=True)
class Draft:
    account: SendingAccount
    sender: str  # as given
    # What the message goes out from: the sender ID, or the account's own mobile.
    # None when the account may use neither.
    originator: str | None
    text: str
    encoding: MessageEncoding
    numbers: NumberReading
    test: bool
    client_ip: str | None


class Check(Protocol):
    async def check(self, draft: Draft) -> CheckResult: ...


def read_numbers(entries: Sequence[str], default_region: str, limit: int) -> NumberReading:
    """Normalise each entry (a national number is read in `default_region`) and drop
    repeats. Blank entries (as from a trailing comma) are ignored."""
    given = [entry for entry in entries if entry.strip()]
    if len(given) > limit:
        return NumberReading(given=len(given), limit=limit)
    valid: dict[str, None] = {}  # a dict keeps the order numbers were given in
    invalid: list[str] = []
    for entry in given:
        try:
            valid.setdefault(normalize_msisdn(entry, default_region=default_region))
        except InvalidNumber:
            invalid.append(entry)
    return NumberReading(len(given), limit, tuple(valid), tuple(invalid))


def region_of(msisdn: str) -> str:
    """The ISO 3166-1 alpha-2 region of a normalised number ("001" for non-geographic)."""
    regions = _regions_of_leading(msisdn[:3])
    if len(regions) == 1:
        return regions[0]
    # A code shared by several regions (+1, +7, +44...): the number itself tells.
    return phonenumbers.region_code_for_number(phonenumbers.parse("+" + msisdn)) or "ZZ"


@functools.lru_cache(maxsize=1024)
def _regions_of_leading(leading: str) -> tuple[str, ...]:
    """The regions of the country code the first three digits of a number start with
    (none for no country code); kept, as every number of a send asks."""
    # Country codes are prefix-free: the first prefix that is one is the country code.
    for length in (1, 2, 3):
        regions = phonenumbers.region_codes_for_country_code(int(leading[:length]))
        if regions:
            break
    return regions


def originator(account: SendingAccount, sender: str) -> str | None:
    """A sender ID registered to the account (case-sensitive), or the account's own
    mobile in international form ("965...", "+965..." or "00965...")."""
    if sender in account.sender_ids:
        return sender
    digits = sender.removeprefix("+") if sender.startswith("+") else sender.removeprefix("00")
    return account.mobile if digits == account.mobile else None


# --- HTML ----------------------------------------------------------------------------

# Element names of HTML (current and obsolete ones browsers still render).
HTML_ELEMENTS = frozenset(
    """a abbr acronym address applet area article aside audio b base basefont bdi bdo big
    blink blockquote body br button canvas caption center cite code col colgroup data
    datalist dd del details dfn dialog dir div dl dt em embed fieldset figcaption figure
    font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe
    img input ins kbd label legend li link main map mark marquee math menu meta meter nav
    noframes noscript object ol optgroup option output p param picture plaintext pre
    progress q rp rt ruby s samp script search section select slot small source span
    strike strong style sub summary sup svg table tbody td template textarea tfoot th
    thead time title tr track tt u ul var video wbr xmp""".split()  # noqa: SIM905 (readable)
)
_TAG = re.compile(
    r"<(?:!--|!doctype\b|/?(?P<name>[a-z][a-z0-9]*)(?:\s*/?>|(?P<attributes>\s[^<>]*)>))",
    re.IGNORECASE,
)


def contains_html(text: str) -> bool:
    """True when the text holds an HTML tag, as written or once its character
    references are decoded ("&lt;script&gt;" is a script tag on any page that shows it).

    A tag is "<" or "</" and the name of an HTML element, then ">" or "/>" at once
    (after optional spaces), or attributes of which at least one has a value
    (`<a href=...>`); also a comment opening "<!--" and "<!DOCTYPE". So "a<b",
    "5 < 6 > 3", "<3", "<name>" and "if a<b and c>d" are plain text, and references
    that make no tag ("Tom &amp; Jerry") are too.
    """
    if _has_tag(text):
        return True
    return "&" in text and _has_tag(html.unescape(text))


def _has_tag(text: str) -> bool:
    for match in _TAG.finditer(text):
        name, attributes = match["name"], match["attributes"]
        if name is None:  # a comment or doctype
            return True
        if name.lower() in HTML_ELEMENTS and (attributes is None or "=" in attributes):
            return True
    return False


# --- the checks, in the order they apply -----------------------------------------------


class EmptyMessage:
    """ERR009: nothing to send, counting spaces and invisible format characters as nothing."""

    async def check(self, draft: Draft) -> CheckResult:
        if all(char.isspace() or unicodedata.category(char) == "Cf" for char in draft.text):
            return CheckResult("ERR009", "Message is empty")
        return PASSED


class HtmlContent:
    """ERR027: HTML in the message (see `contains_html`)."""

    async def check(self, draft: Draft) -> CheckResult:
        if contains_html(draft.text):
            return CheckResult("ERR027", "HTML tags are not allowed in the message")
        return PASSED


class PageLimit:
    """ERR012: more pages than an account may send in one message."""

    def __init__(self, max_pages: int) -> None:
        self._max_pages = max_pages

    async def check(self, draft: Draft) -> CheckResult:
        pages = draft.encoding.pages
        if pages > self._max_pages:
            return CheckResult(
                "ERR012",
                f"Message is too long: {pages} pages ({draft.encoding.encoding}), "
                f"at most {self._max_pages} allowed",
            )
        return PASSED


class SenderOwnership:
    """ERR008: the sender is neither a sender ID of the account nor its own mobile."""

    async def check(self, draft: Draft) -> CheckResult:
        if draft.originator is None:
            return CheckResult(
                "ERR008",
                f"Sender ID {_shown(draft.sender)!r} is not registered to this account "
                "(sender IDs are case-sensitive)",
            )
        return PASSED


class NumberLimit:
    """ERR007: more numbers than one send may address."""

    async def check(self, draft: Draft) -> CheckResult:
        if draft.numbers.given > draft.numbers.limit:
            return CheckResult(
                "ERR007", f"Too many numbers: at most {draft.numbers.limit} in one send"
            )
        return PASSED


class NumberValidity:
    """ERR006 when no entry is a mobile number; ERR025, naming them, when some are not."""

    async def check(self, draft: Draft) -> CheckResult:
        if not draft.numbers.valid:
            return CheckResult("ERR006", "No valid mobile numbers")
        if draft.numbers.invalid:
            shown = ", ".join(_shown(entry.strip()) for entry in draft.numbers.invalid)
            return CheckResult("ERR025", f"Invalid mobile numbers: {shown}")
        return PASSED


class CountryActivation:
    """ERR026: a number in a country the account is not activated for."""

    async def check(self, draft: Draft) -> CheckResult:
        activated = draft.account.activated_countries
        outside = [
            f"{number} ({region})"
            for number in draft.numbers.valid
            if (region := region_of(number)) not in activated
        ]
        if outside:
            return CheckResult(
                "ERR026", f"Country not activated on this account: {', '.join(outside)}"
            )
        return PASSED


def default_checks(settings: Settings) -> list[Check]:
    """The checks of a send, in the order of kwtSMS's refusals."""
    return [
        EmptyMessage(),
        HtmlContent(),
        PageLimit(settings.max_pages),
        SenderOwnership(),
        NumberLimit(),
        NumberValidity(),
        CountryActivation(),
    ]


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


# --- ERR028 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberClaim:
    result: CheckResult
    # Held for this send until they expire; empty when refused (released already).
    keys: tuple[str, ...] = ()
    token: bytes = b""


# Numbers claimed in one hot-state call, at most: a group send of thousands then runs
# as a few short scripts, never one that holds Redis for milliseconds.
CLAIM_BATCH = 1000


class RecentNumbers:
    """ERR028: an account sends to a number at most once within `same_number_block_s`.

    Each number is claimed under a key per account and number that expires after the
    window, with `put_many_if_new`: a send's numbers (up to CLAIM_BATCH of them, in
    batches beyond) are taken all at once or not at all, so two sends racing to one
    number cannot both pass. A send refused after claiming releases its claims
    (compare-and-delete with its own token, so a claim another send took after expiry
    stays). Test sends claim under keys of their own: they block later test sends,
    never real ones. When the hot state does not answer, sends are refused (ERR013):
    failing open would lift the limit.
    """

    def __init__(self, hot: HotState, block_s: float) -> None:
        self._hot = hot
        self._block_s = block_s

    async def claim(
        self, account_id: int, numbers: Sequence[str], *, test: bool, token: bytes
    ) -> NumberClaim:
        prefix = f"sms.recent{'.test' if test else ''}:{account_id}:"
        keys = [prefix + number for number in numbers]
        claimed = 0  # keys[:claimed] are held
        try:
            while claimed < len(keys):
                batch = keys[claimed : claimed + CLAIM_BATCH]
                taken = await self._hot.put_many_if_new(batch, token, ttl_s=self._block_s)
                if taken is not None:
                    await self.release(NumberClaim(PASSED, tuple(keys[:claimed]), token))
                    return NumberClaim(
                        CheckResult(
                            "ERR028",
                            f"{taken.removeprefix(prefix)} was sent to within the last "
                            f"{self._block_s:g} seconds; no credits were consumed",
                            retry_after_s=self._block_s,
                        )
                    )
                claimed += len(batch)
        except HotStateUnavailable:
            log.warning("sms_recent_numbers_unavailable", exc_info=True)
            await self.release(NumberClaim(PASSED, tuple(keys[:claimed]), token))
            return NumberClaim(CheckResult("ERR013", "temporarily unable to accept messages"))
        return NumberClaim(PASSED, tuple(keys), token)

    async def release(self, claim: NumberClaim) -> None:
        """Give the claimed numbers back. Best effort: a claim left behind only expires."""
        try:
            for start in range(0, len(claim.keys), CLAIM_BATCH):
                batch = claim.keys[start : start + CLAIM_BATCH]
                await self._hot.compare_and_delete_many(batch, claim.token)
        except HotStateUnavailable:
            log.warning("sms_recent_numbers_not_released", exc_info=True)
