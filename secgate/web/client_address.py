"""Who the client is: the socket peer, or what our own proxies say in X-Forwarded-For.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only when
the socket peer is one of `settings.trusted_proxies` (SECGATE_TRUSTED_PROXIES). Then the
chain is read from the right, where our proxies appended what they saw, skipping the
proxies themselves: the first address that is not ours is the client. Anything left of
it was written by the client and proves nothing.

We do not use aiohttp-remotes: its `XForwardedFiltered` believes the header from any
peer, so anyone reaching the gateway directly could pick their address; its
`XForwardedStrict` does check the peer, but rejects a request whose chain does not match
instead of ignoring the header, and expects a fixed number of proxy hops.
"""

from __future__ import annotations

import ipaddress

from secgate.settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(peer: str | None, forwarded_for: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address, canonical (an IPv4-mapped IPv6 address given as IPv4).

    `forwarded_for` holds every X-Forwarded-For header line of the request. When the
    peer is no address at all (no socket peer), it is returned as it is, or "unknown".
    """
    peer_address = parse_address(peer) if peer else None
    if peer_address is None:
        return peer or "unknown"
    if not _is_trusted(peer_address, trusted):
        return str(peer_address)

    hops = [hop for line in forwarded_for for hop in line.split(",")]
    client = peer_address
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # Garbage in the chain: what lies left of it cannot be trusted either,
            # so the last good hop is the best we know.
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def parse_address(text: str) -> IPAddress | None:
    """An address as a peer or proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
    `[::1]:443`; IPv4-mapped IPv6 becomes IPv4. None for anything else."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not _is_port(port):
            return None
    else:
        host = text
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            # `fe80::1%eth0`: the zone means nothing off the host that wrote it, and
            # it is free text that would follow the address into logs and alerts.
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


def _is_trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    # A network of the other IP version never contains the address.
    return any(address in network for network in trusted)
