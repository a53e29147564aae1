"""The destination rule of delivery-report webhooks: public addresses only, judged
address by address, IPv6 forms of IPv4 addresses included, with the operator's
exempted networks; and the resolver that applies it as aiohttp connects."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from secgate.sms.webhook_destinations import (
    DestinationCheck,
    GuardedResolver,
    IPAddress,
    RefusedDestination,
    check_host,
)


def address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private (RFC 1918)"),
        ("172.16.0.1", "private (RFC 1918)"),
        ("172.31.255.255", "private (RFC 1918)"),
        ("192.168.0.1", "private (RFC 1918)"),
        ("169.254.169.254", "link-local (cloud metadata services live here)"),
        ("100.64.0.1", "shared carrier-grade NAT space (RFC 6598)"),
        ("100.127.255.255", "shared carrier-grade NAT space (RFC 6598)"),
        ("0.0.0.0", "unspecified ('this network', RFC 1122)"),  # noqa: S104
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved (and broadcast)"),
        ("192.0.2.10", "not a globally reachable address"),  # documentation
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fd12:3456::1", "unique local (ULA)"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local (deprecated)"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "not a globally reachable address"),  # documentation
        ("::ffff:127.0.0.1", "an IPv6 form of 127.0.0.1, loopback"),
        ("::ffff:169.254.169.254", "an IPv6 form of 169.254.169.254, link-local"),
        ("::ffff:10.0.0.1", "an IPv6 form of 10.0.0.1, private (RFC 1918)"),
        ("::127.0.0.1", "an IPv6 form of 127.0.0.1, loopback"),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", "an IPv6 form of 169.254.169.254, link-local"),  # NAT64
        ("2002:7f00:1::", "an IPv6 form of 127.0.0.1, loopback"),  # 6to4
    ],
)
def test_internal_addresses_are_refused_with_the_reason(text: str, reason: str) -> None:
    verdict = DestinationCheck().check(address(text))

    assert not verdict.allowed
    assert verdict.reason.startswith(reason)


@pytest.mark.parametrize(
    "text",
    [
        "93.184.216.34",
        "8.8.8.8",
        "100.63.255.255",  # just below CGNAT space
        "100.128.0.0",  # just above it
        "172.32.0.1",  # just above 172.16.0.0/12
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::",  # 6to4 of a public address
    ],
)
def test_public_addresses_are_allowed(text: str) -> None:
    assert DestinationCheck().check(address(text)).allowed


def test_exempted_networks_are_allowed_in_any_form_and_nothing_else_is() -> None:
    check = DestinationCheck([ipaddress.ip_network("127.0.0.0/8")])

    assert check.check(address("127.0.0.1")).allowed
    assert check.check(address("::ffff:127.0.0.1")).allowed
    assert not check.check(address("::1")).allowed
    assert not check.check(address("10.0.0.1")).allowed


class TableDns(AbstractResolver):
    """Answers names from a table, so that a test says what a name resolves to."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": text,
                "port": port,
                "family": socket.AF_INET6 if ":" in text else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for text in self.table[host]
        ]

    async def lookup(self, host: str, port: int) -> list[IPAddress]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [address(text) for text in self.table[host]]

    async def close(self) -> None:
        pass


async def test_the_resolver_passes_on_a_name_whose_every_address_is_public() -> None:
    dns = TableDns({"hooks.example": ["93.184.216.34", "2606:4700:4700::1111"]})

    results = await GuardedResolver(DestinationCheck(), dns).resolve("hooks.example", 443)

    assert [r["host"] for r in results] == ["93.184.216.34", "2606:4700:4700::1111"]


async def test_the_resolver_refuses_a_name_if_any_one_address_is_refused() -> None:
    dns = TableDns({"mixed.example": ["93.184.216.34", "10.0.0.7"]})

    with pytest.raises(RefusedDestination, match=r"resolves to 10\.0\.0\.7, which is private"):
        await GuardedResolver(DestinationCheck(), dns).resolve("mixed.example", 443)


async def test_the_resolver_refuses_localhost_names_whatever_the_dns_says() -> None:
    dns = TableDns({"evil.localhost": ["93.184.216.34"]})

    with pytest.raises(RefusedDestination, match=r"evil\.localhost is loopback"):
        await GuardedResolver(DestinationCheck(), dns).resolve("evil.localhost", 80)
    assert dns.asked == []


async def test_the_system_resolver_is_checked_too() -> None:
    """aiohttp's own resolver (the default), on a name the system resolves itself."""
    resolver = GuardedResolver(DestinationCheck())
    try:
        with pytest.raises(RefusedDestination, match=r"127\.0\.0\.1, which is loopback"):
            await resolver.resolve("127.1", 80, family=socket.AF_INET)
    finally:
        await resolver.close()


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("93.184.216.34", True),
        ("10.0.0.1", False),
        ("public.example", True),
        ("internal.example", False),
        ("unknown.example", True),  # does not resolve now; checked at every delivery
        ("localhost", False),
    ],
)
async def test_a_hosts_verdict_when_a_url_is_set(host: str, allowed: bool) -> None:
    dns = TableDns(
        {
            "public.example": ["93.184.216.34"],
            "internal.example": ["93.184.216.34", "192.168.0.9"],
            "localhost": ["127.0.0.1"],
        }
    )

    verdict = await check_host(host, 443, DestinationCheck(), dns.lookup)

    assert verdict.allowed is allowed
