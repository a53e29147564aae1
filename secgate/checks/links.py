"""Links in a message that hide where they lead or pretend to be a brand's.

Links are found as a phone would make them clickable, and as a reader would type them:
`https://…`, `www.…`, bare domains ("bit.ly/x", "nbk-login.com", a known top-level
domain required), an IPv4 address followed by a path or port, and links written to
dodge filters ("hxxps://", "example[.]com", "example(dot)com"), once invisible
characters are removed and full-width characters read as ASCII. Each host is judged:

- the host is, or is under, a protected brand's listed domain: pass (the brand's own);
- an IP address host that is public, or written in another form than a.b.c.d
  (decimal "3232235777", hex, octal, short "127.1"): reject ERR032. Senders with a
  business reason to link use a domain; the other forms exist only to hide the address;
- an IP address host a.b.c.d that is private, loopback or link-local: hold. "Open
  http://192.168.1.1/ to set up your router" is an ISP's message, and a phishing page
  cannot live at the reader's own LAN address; but such a link is unusual;
- a brand's name disguised in a domain label, with look-alike letters of other scripts
  or digits ("nbк.com", "0oredoo.com.kw", punycode "xn--…") or separators
  ("n-b-k.com"): reject ERR032. Nobody writes a brand's name that way but to deceive;
- a brand's name as a word of a domain that is not the brand's ("nbk-secure-login.com",
  "secure.nbk.evil.io", "nbk.com.evil.io"): reject ERR032, the classic phishing domain;
- a user name before the host that is a brand's domain ("https://nbk.com@evil.io"):
  reject ERR032. The host is evil.io; the rest is there to mislead;
- the brand's plain name under another suffix ("nbk.net", "kfh.com.kw"): hold. It may
  be the brand's own domain missing from the list: staff decide (and add it);
- a domain label within `max_edits` edits (setting `link_lookalike_max_edits`) of a
  brand's name of at least `min_brand_chars` letters (`link_lookalike_min_brand_chars`)
  ("ooredo.com", "aramax.com"), or containing such a name ("ooredookuwait.com"): hold.
  Typo-squats, but also unrelated names that happen to be close;
- a link shortener (secgate/checks/data/url_shorteners.txt): hold. Legitimate senders
  use them too, but they hide the destination;
- a link written to dodge filters, a user name part, a malformed or mixed-script
  internationalised domain: hold. Evasion: a person should look.

Short brand names (under `min_brand_chars` letters, e.g. "nbk", "kfh",
"zain") are matched only exactly (after the skeleton): at one edit from "kfh" is "kfc",
a brand of its own, and inside "zainab" is a name.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import phonenumbers

from secgate.checks.obfuscation import scripts_of
from secgate.checks.text_normalisation import normalise, skeleton
from secgate.checks.verdict import (
    CheckResult,
    FailMode,
    MessageUnderCheck,
    Verdict,
    held,
    passed,
    rejected,
)

# --- finding links --------------------------------------------------------------------

# Top-level domains a bare domain must end in: every country code, and the generic ones
# seen in messages. A link with a scheme or "www." may use any.
_GENERIC_TLDS = """com net org info biz edu gov mil int mobi name pro aero asia cat coop jobs
museum tel travel app dev page xyz top online site website shop store link click live
club vip win bid loan loans work support help email today icu cloud tech space fun life
world news blog art buzz cam rest bar network digital agency services solutions company
center global group host best cyou sbs lol mom quest beauty hair skin monster uno bond
finance financial credit promo gift deals sale delivery express ink run one zip mov
autos boats homes men date party review racing download stream trade science faith kim
tokyo store fit ltd llc inc gmbh""".split()  # noqa: SIM905 (readable)
TLDS: frozenset[str] = frozenset(
    [r.lower() for r in phonenumbers.SUPPORTED_REGIONS]
    + ["uk", "eu", "su", "tf", "gs", "pn", "aq"]
    + _GENERIC_TLDS
)

_SCHEME_URL = re.compile(r"(?<![a-z])(?:https?|ftp)://([^\s/?#\\<>\"'`]+)", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"(?<![\w.-])((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59}))(?![\w-])",
    re.IGNORECASE,
)
# An IPv4 address without a scheme is a link only with a path or a port after it
# ("45.33.12.8/login"); alone it may be a version or a reference number.
_BARE_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?=/|:\d{1,5}(?!\d))")
_TRAILING_PUNCTUATION = ".,;:!?)]}'\"»…"
_NEXT_SPACE = re.compile(r"\s")

# Ways of writing a link so that filters (and phones) do not see one: "example[.]com",
# "example(dot)com", "hxxps://", "h**p://", "https[:]//".
_OBFUSCATION = re.compile(
    r"(?P<dot>\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*)"
    r"|(?<![a-z])(?:h(?:xx|\*\*)p(?P<secure>s?)(?:\[:\]|:)//|(?P<scheme>https?|ftp)\[:\]//)",
    re.IGNORECASE,
)
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff61": "."})

_IPV4_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Link:
    host: str  # lower case, internationalised labels decoded, no port or trailing dot
    written: str  # how the host part was written (after normalisation)
    obfuscated: bool = False  # written to dodge filters ("hxxp", "[.]")
    userinfo: str = ""  # what came before "@" in the authority, if anything
    malformed_idn: bool = False  # an "xn--" label that does not decode


def find_links(text: str) -> list[Link]:
    """The links of a message, each host once, in order of appearance."""
    clean = normalise(text).text.translate(_IDEOGRAPHIC_DOTS)
    revealed, changed_at = _reveal(clean)
    found = sorted(_links_in(revealed), key=lambda item: item[1])
    links: dict[str, Link] = {}
    for link, start, end in found:
        obfuscated = any(start <= at < end for at in changed_at)
        known = links.get(link.host)
        if known is None or (obfuscated and not known.obfuscated):
            links[link.host] = replace(link, obfuscated=obfuscated)
    return list(links.values())


def _reveal(text: str) -> tuple[str, list[int]]:
    """The text with obfuscated dots and schemes written plainly, and where (in the
    new text) each change is."""
    if _OBFUSCATION.search(text) is None:
        return text, []
    parts: list[str] = []
    changed_at: list[int] = []
    length, last = 0, 0
    for match in _OBFUSCATION.finditer(text):
        parts.append(text[last : match.start()])
        length += match.start() - last
        if match["dot"] is not None:
            plain = "."
        else:
            plain = f"{match['scheme'] or 'http'}{match['secure'] or ''}://"
        changed_at.append(length)
        parts.append(plain)
        length += len(plain)
        last = match.end()
    parts.append(text[last:])
    return "".join(parts), changed_at


def _links_in(text: str) -> Iterator[tuple[Link, int, int]]:
    """Each link with the span of its text (up to the next space)."""
    # A domain in a link's path ("…/nbk.com") is not another link. Spans never overlap:
    # kept sorted, the one that could hold a position is found by bisection.
    starts: list[int] = []
    ends: list[int] = []

    def claim(start: int) -> tuple[int, int]:
        space = _NEXT_SPACE.search(text, start)
        end = space.start() if space else len(text)
        at = bisect.bisect(starts, start)
        starts.insert(at, start)
        ends.insert(at, end)
        return start, end

    def claimed(position: int) -> bool:
        at = bisect.bisect(starts, position) - 1
        return at >= 0 and position < ends[at]

    for match in _SCHEME_URL.finditer(text):
        if claimed(match.start()):
            continue
        span = claim(match.start())
        link = _link_of_authority(match.group(1).rstrip(_TRAILING_PUNCTUATION))
        if link is not None:
            yield link, *span
    for match in _BARE_DOMAIN.finditer(text):
        if claimed(match.start()):
            continue
        tld = match.group(2)
        if tld.lower() not in TLDS and not tld.lower().startswith("xn--"):
            continue
        if tld[0].isupper() and tld[1:].islower():
            continue  # "Thank you for banking with NBK.It is…" ends a sentence
        span = claim(match.start())
        link = _link_of_authority(match.group(1))
        if link is not None:
            yield link, *span
    for match in _BARE_IPV4.finditer(text):
        if not claimed(match.start()):
            yield Link(match.group(1), match.group(1)), *claim(match.start())


def _link_of_authority(authority: str) -> Link | None:
    userinfo, _, host = authority.rpartition("@")
    if host.startswith("["):  # IPv6 literal
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    else:
        host = re.sub(r":\d*$", "", host)
    host = host.rstrip(".").lower()
    if not host:
        return None
    labels, malformed = [], False
    for label in host.split("."):
        if label.startswith("xn--"):
            decoded = _decode_idn_label(label)
            if decoded is None:
                malformed = True
            else:
                label = decoded
        labels.append(label)
    return Link(".".join(labels), authority, False, userinfo, malformed)


def _decode_idn_label(label: str) -> str | None:
    """The Unicode of an "xn--" label, or None when it is not one a registry would
    issue: undecodable, plain ASCII, or holding what is neither letter, digit, mark
    nor hyphen."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return None
    if decoded.isascii() or not all(
        c.isalnum() or c == "-" or unicodedata.category(c).startswith("M") for c in decoded
    ):
        return None
    return decoded.lower()


# --- IP addresses -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpHost:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    canonical: bool  # written as a.b.c.d (or an IPv6 literal)


def ip_host(host: str) -> IpHost | None:
    """The address a host names when it is an IP address, in any form a browser
    accepts: "192.168.1.1", "3232235777", "0xc0a80101", "0300.0250.1.1", "192.168.257",
    or an IPv6 literal. None for a domain."""
    if ":" in host:
        try:
            return IpHost(ipaddress.IPv6Address(host), True)
        except ValueError:
            return None
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    # inet_aton: the last part fills the bytes the earlier ones leave.
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = 0
    for value in leading:
        number = number * 256 + value
    number = number * 256 ** (4 - len(leading)) + last
    canonical = len(parts) == 4 and all(p.isdigit() and str(int(p)) == p for p in parts)
    return IpHost(ipaddress.IPv4Address(number), canonical)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global


# --- protected brands -------------------------------------------------------------------

# Second-level labels under a country code that are part of its public suffix
# ("com.kw", "gov.kw", "co.uk"): the name someone registered is the label before them.
_SECOND_LEVEL = frozenset(
    "com net org edu gov co ac mil biz info sch ne or go gob nic ltd plc".split()  # noqa: SIM905
)


def registrable_index(labels: list[str]) -> int:
    """The index of the label someone registered: "nbk" in ["www","nbk","com","kw"]."""
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return len(labels) - 3
    return max(len(labels) - 2, 0)


@dataclass(frozen=True, slots=True)
class Brand:
    name: str  # as listed, lower case
    domains: tuple[str, ...]  # its own domains
    skeleton: str  # of the name, separators removed


@dataclass(frozen=True, slots=True)
class ProtectedDomains:
    brands: tuple[Brand, ...]
    official: frozenset[str]  # every listed domain of every brand

    @classmethod
    def of(cls, lines: Iterable[str]) -> ProtectedDomains:
        brands = []
        for line in lines:
            text = line.split("#", 1)[0].strip().lower()
            if not text:
                continue
            name, _, domains = text.partition(":")
            name = name.strip()
            brands.append(Brand(name, tuple(domains.split()), _joined_skeleton(name)))
        official = frozenset(d for b in brands for d in b.domains)
        return cls(tuple(brands), official)

    def is_official(self, host: str) -> bool:
        """The host is a listed domain or a subdomain of one."""
        labels = host.split(".")
        return any(".".join(labels[i:]) in self.official for i in range(len(labels)))


@functools.cache
def load_protected_domains(path: Path) -> ProtectedDomains:
    return ProtectedDomains.of(path.read_text(encoding="utf-8").splitlines())


@functools.cache
def load_shorteners(path: Path) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(s for line in lines if (s := line.split("#", 1)[0].strip().lower()))


_SEPARATORS = re.compile(r"[-_.]")


def _joined_skeleton(text: str) -> str:
    return _SEPARATORS.sub("", skeleton(text))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions and
    swaps of neighbours, each 1), or limit + 1 when it is over `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    # Each edit adds or removes at most two letters from the set of letters used.
    if len(set(a) ^ set(b)) > 2 * limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


# --- judging a link ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    host: str
    kind: str
    verdict: Verdict
    reason: str

    def as_detail(self) -> dict[str, str]:
        return {"host": self.host, "finding": self.kind, "verdict": str(self.verdict)}


# Hosts whose findings a LinkRules remembers at most (then it starts afresh).
JUDGED_HOSTS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class LinkRules:
    protected: ProtectedDomains
    shorteners: frozenset[str]
    max_edits: int  # a brand name this many edits away (or fewer, not 0) is held
    min_brand_chars: int  # brands shorter than this match only exactly (by skeleton)
    _judged: dict[str, tuple[Finding, ...]] = field(default_factory=dict, repr=False, compare=False)

    def judge(self, link: Link) -> list[Finding]:
        findings: list[Finding] = []
        host = link.host
        if link.obfuscated:
            findings.append(
                Finding(host, "obfuscated", Verdict.HOLD, f"link written to dodge filters ({host})")
            )
        if link.malformed_idn:
            findings.append(
                Finding(
                    host,
                    "malformed_idn",
                    Verdict.HOLD,
                    f"malformed internationalised domain ({host})",
                )
            )
        if link.userinfo:
            findings.append(self._judge_userinfo(link))
        findings.extend(self.judge_host(host))
        return findings

    def judge_host(self, host: str) -> tuple[Finding, ...]:
        """What the host alone says, remembered: a bulk send repeats its links."""
        findings = self._judged.get(host)
        if findings is None:
            if len(self._judged) >= JUDGED_HOSTS_KEPT:
                self._judged.clear()
            findings = self._judged[host] = tuple(self._judge_host(host))
        return findings

    def _judge_host(self, host: str) -> Iterator[Finding]:
        ip = ip_host(host)
        if ip is not None:
            yield _judge_ip(host, ip)
            return
        if self.protected.is_official(host):
            return
        labels = host.split(".")
        if any(".".join(labels[i:]) in self.shorteners for i in range(len(labels) - 1)):
            yield Finding(
                host,
                "shortener",
                Verdict.HOLD,
                f"link through a URL shortener ({host}) hides where it leads",
            )
        if not host.isascii():
            yield from self._judge_mixed_scripts(host, labels)
        finding = self._judge_lookalike(host, labels)
        if finding is not None:
            yield finding

    def _judge_userinfo(self, link: Link) -> Finding:
        disguise = link.userinfo.lower().rstrip(".")
        if self.protected.is_official(disguise) or self._judge_lookalike(
            disguise, disguise.split(".")
        ):
            return Finding(
                link.host,
                "disguised_host",
                Verdict.REJECT,
                f"link shows {disguise} before '@' but leads to {link.host}",
            )
        return Finding(
            link.host, "userinfo", Verdict.HOLD, f"link with a user name part leads to {link.host}"
        )

    def _judge_mixed_scripts(self, host: str, labels: list[str]) -> list[Finding]:
        for label in labels:
            if len(scripts_of(label)) > 1:
                return [
                    Finding(
                        host,
                        "mixed_script_domain",
                        Verdict.HOLD,
                        f"internationalised domain mixing scripts ({host})",
                    )
                ]
        return []

    def _judge_lookalike(self, host: str, labels: list[str]) -> Finding | None:
        at = registrable_index(labels)
        registered = labels[at]
        registered_skeleton = _joined_skeleton(registered)
        subdomains = labels[:at]
        tokens = [t for label in [*subdomains, registered] for t in re.split(r"[-_]", label) if t]
        token_skeletons = [(t, skeleton(t)) for t in tokens]
        hold: Finding | None = None
        for brand in self.protected.brands:
            own = ", ".join(brand.domains)
            if registered == brand.name:
                hold = hold or Finding(
                    host,
                    "brand_elsewhere",
                    Verdict.HOLD,
                    f"link to {host} carries the name {brand.name} outside its domains ({own})",
                )
                continue
            if registered_skeleton == brand.skeleton or any(
                s == brand.skeleton and t != brand.name for t, s in token_skeletons
            ):
                return Finding(
                    host,
                    "lookalike",
                    Verdict.REJECT,
                    f"link to {host} imitates {brand.name} ({own})",
                )
            if any(t == brand.name for t, _ in token_skeletons):
                return Finding(
                    host,
                    "brand_in_domain",
                    Verdict.REJECT,
                    f"link to {host} uses the name {brand.name} in a domain not its own ({own})",
                )
            if hold is None and len(brand.skeleton) >= self.min_brand_chars:
                near = [registered_skeleton, *(s for _, s in token_skeletons)]
                if any(
                    edit_distance(s, brand.skeleton, self.max_edits) <= self.max_edits for s in near
                ) or (brand.skeleton in registered_skeleton):
                    hold = Finding(
                        host,
                        "resembles_brand",
                        Verdict.HOLD,
                        f"link to {host} resembles {brand.name} ({own})",
                    )
        return hold


def _judge_ip(host: str, ip: IpHost) -> Finding:
    if not ip.canonical:
        return Finding(
            host,
            "disguised_ip",
            Verdict.REJECT,
            f"link to an IP address written to hide it ({host} is {ip.address})",
        )
    if _is_public(ip.address):
        return Finding(host, "ip_host", Verdict.REJECT, f"link to a bare IP address ({host})")
    return Finding(host, "private_ip_host", Verdict.HOLD, f"link to a private IP address ({host})")


class Links:
    """Shorteners, IP-address hosts, look-alike domains of protected brands and
    disguised links (see the module doc): reject ERR032 or hold."""

    name = "links"
    # Needs no store: the lists are read when the check is built.
    fails: FailMode = "closed"

    def __init__(self, rules: LinkRules) -> None:
        self._rules = rules

    async def check(self, message: MessageUnderCheck) -> CheckResult:
        text = message.text
        if text.isascii() and "." not in text and "//" not in text and "dot" not in text.lower():
            return passed(self.name)  # no link can be written without either
        findings = [f for link in find_links(message.text) for f in self._rules.judge(link)]
        if not findings:
            return passed(self.name)
        details = [f.as_detail() for f in findings]
        for finding in findings:
            if finding.verdict is Verdict.REJECT:
                return rejected(self.name, "ERR032", finding.reason, links=details)
        return held(self.name, findings[0].reason, links=details)
