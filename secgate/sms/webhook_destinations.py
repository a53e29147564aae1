"""Where delivery-report webhooks may connect: public addresses only (an SSRF guard).

A webhook URL is chosen by a customer, and the gateway posts to it from inside the
operator's network. Left unchecked, a URL such as http://169.254.169.254/ (cloud
metadata), http://127.0.0.1:6379/ (our Redis) or http://10.0.0.5/admin would make the
gateway reach what only it can reach. So an address is refused when it is loopback,
private (RFC 1918), link-local, shared CGNAT space (100.64.0.0/10), multicast,
unspecified, reserved, an IPv6 unique-local, link-local or site-local address, or any
other address that is not globally reachable; an IPv6 address that carries an IPv4
one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4
2002::/16) is judged by the IPv4 address inside it as well.

`webhook_allowed_networks` exempts networks from the rule, for a receiver of the
operator's own on an internal network (and for tests, whose receivers listen on
loopback).

The rule is applied twice: when a URL is set (a literal address, or every address
its name resolves to now) and at every delivery, because DNS can change in between
(DNS rebinding). At delivery the connection is made only to the addresses the check
passed: `GuardedResolver` stands in for aiohttp's resolver, checks every address a
name resolves to and refuses the name if any one of them is refused, and aiohttp
connects to the addresses it returned. aiohttp does not resolve literal addresses,
so the worker checks those itself before posting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from secgate.settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name resolves to now; raises OSError when it
# does not resolve.
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]


def _net(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr)


# Checked in order; the first network that holds the address gives the reason.
REFUSED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (_net("0.0.0.0/8"), "unspecified ('this network', RFC 1122)"),
    (_net("10.0.0.0/8"), "private (RFC 1918)"),
    (_net("100.64.0.0/10"), "shared carrier-grade NAT space (RFC 6598)"),
    (_net("127.0.0.0/8"), "loopback"),
    (_net("169.254.0.0/16"), "link-local (cloud metadata services live here)"),
    (_net("172.16.0.0/12"), "private (RFC 1918)"),
    (_net("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"),
    (_net("192.168.0.0/16"), "private (RFC 1918)"),
    (_net("198.18.0.0/15"), "benchmarking (RFC 2544)"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("240.0.0.0/4"), "reserved (and broadcast)"),
    (_net("::/128"), "unspecified"),
    (_net("::1/128"), "loopback"),
    (_net("::/96"), "IPv4-compatible (deprecated)"),
    (_net("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"),
    (_net("100::/64"), "discard-only (RFC 6666)"),
    (_net("fc00::/7"), "unique local (ULA)"),
    (_net("fe80::/10"), "link-local"),
    (_net("fec0::/10"), "site-local (deprecated)"),
    (_net("ff00::/8"), "multicast"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Names that are loopback by definition (RFC 6761), whatever a resolver says: they
# are judged as this address before (and besides) what they resolve to.
_LOOPBACK_NAMES = ("localhost", ".localhost")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@dataclass(frozen=True, slots=True)
class DestinationVerdict:
    allowed: bool
    reason: str  # why not, when refused; "" when allowed


ALLOWED = DestinationVerdict(True, "")


class RefusedDestination(OSError):
    """A webhook destination the rule refuses. An OSError, as any failure to resolve
    is: aiohttp then reports it as a connection error, with this as its cause."""


class DestinationCheck:
    """May a webhook connect to this address?"""

    def __init__(self, allowed_networks: Sequence[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed_networks)

    def check(self, address: IPAddress) -> DestinationVerdict:
        """Refused with the reason ("loopback", ...) unless allowed."""
        # An IPv4 address carried inside an IPv6 one is judged first: that is
        # where a connection to it ends up.
        candidates = [*_embedded_ipv4(address), address]
        if any(candidate in net for candidate in candidates for net in self._allowed):
            return ALLOWED
        for candidate in candidates:
            reason = _refusal(candidate)
            if reason:
                if candidate is not address:
                    reason = f"an IPv6 form of {candidate}, {reason}"
                return DestinationVerdict(False, reason)
        return ALLOWED


def _refusal(address: IPAddress) -> str:
    for network, reason in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if not address.is_global:  # documentation ranges, Teredo, ... and what comes next
        return "not a globally reachable address"
    return ""


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries in the forms that reach them."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    packed = address.packed
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    # NAT64; IPv4-compatible, which excludes :: and ::1 (RFC 4291 2.5.5.1).
    if address in _NAT64 or (packed[:12] == bytes(12) and int(address) > 1):
        return [ipaddress.IPv4Address(packed[12:])]
    return []


def literal_address(host: str) -> IPAddress | None:
    """The address when `host` (a URL's hostname) is an IP literal, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_literal(host: str, check: DestinationCheck) -> DestinationVerdict | None:
    """The verdict on a URL's host when it is an IP literal (the reason naming it),
    None when it is a name."""
    address = literal_address(host)
    if address is None:
        return None
    verdict = check.check(address)
    return verdict if verdict.allowed else DestinationVerdict(False, f"{host} is {verdict.reason}")


def is_loopback_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == _LOOPBACK_NAMES[0] or name.endswith(_LOOPBACK_NAMES[1])


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to now, through the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_host(
    host: str, port: int, check: DestinationCheck, resolve: Resolve
) -> DestinationVerdict:
    """The verdict on a URL's host: a literal address is checked as it is; a name by
    every address it resolves to now (refused if any one is refused). A name that
    does not resolve now is allowed: it cannot reach anything now, and every
    delivery checks again."""
    literal = check_literal(host, check)
    if literal is not None:
        return literal
    if is_loopback_name(host):
        verdict = check.check(_LOOPBACK)
        if not verdict.allowed:
            return DestinationVerdict(False, f"{host} is {verdict.reason}")
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):  # gaierror; IDNA refusing a label
        return ALLOWED
    for address in addresses:
        verdict = check.check(address)
        if not verdict.allowed:
            return DestinationVerdict(False, _resolved_to(host, address, verdict))
    return ALLOWED


def _resolved_to(host: str, address: IPAddress, verdict: DestinationVerdict) -> str:
    return f"{host} resolves to {address}, which is {verdict.reason}"


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name when any address it resolves to is refused.
    aiohttp connects only to the addresses returned here."""

    def __init__(self, check: DestinationCheck, inner: AbstractResolver | None = None) -> None:
        self._check = check
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if is_loopback_name(host):
            verdict = self._check.check(_LOOPBACK)
            if not verdict.allowed:
                raise RefusedDestination(f"{host} is {verdict.reason}")
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"])
            verdict = self._check.check(address)
            if not verdict.allowed:
                raise RefusedDestination(_resolved_to(host, address, verdict))
        return results

    async def close(self) -> None:
        await self._inner.close()
