"""The client address: X-Forwarded-For is believed only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from secgate import appkeys
from secgate.app import create_app
from secgate.settings import Settings, parse_networks
from secgate.web.client_address import client_ip, parse_address

PROXIES = parse_networks("10.0.0.0/8, 2001:db8::/32")
PROXY = "10.0.0.1"
CLIENT = "198.51.100.9"


def test_forged_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], PROXIES) == "203.0.113.7"


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_ip(PROXY, [CLIENT], ()) == PROXY


def test_a_trusted_proxy_gives_the_address_it_saw() -> None:
    assert client_ip(PROXY, [CLIENT], PROXIES) == CLIENT


def test_without_the_header_a_trusted_proxy_is_itself_the_client() -> None:
    assert client_ip(PROXY, [], PROXIES) == PROXY


def test_the_chain_is_read_from_the_right_skipping_our_proxies() -> None:
    # 6.6.6.6 was written by the client itself: only what our proxies appended counts.
    assert client_ip(PROXY, [f"6.6.6.6, {CLIENT}, 10.0.0.2"], PROXIES) == CLIENT


def test_several_header_lines_form_one_chain_in_order() -> None:
    assert client_ip(PROXY, ["6.6.6.6", f"{CLIENT}, 10.0.0.2"], PROXIES) == CLIENT
    assert client_ip(PROXY, [f"6.6.6.6, {CLIENT}", "10.0.0.2"], PROXIES) == CLIENT


def test_when_every_hop_is_a_trusted_proxy_the_leftmost_is_the_client() -> None:
    assert client_ip(PROXY, ["10.0.0.3, 10.0.0.2"], PROXIES) == "10.0.0.3"


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        # Garbage stops the walk at the last good hop; nothing left of it is believed.
        (["garbage"], PROXY),
        ([f"{CLIENT}, garbage"], PROXY),
        ([f"{CLIENT}, garbage, 10.0.0.2"], "10.0.0.2"),
        ([f"{CLIENT},,10.0.0.2"], "10.0.0.2"),
        ([""], PROXY),
        ([f"{CLIENT}, unknown"], PROXY),
        ([f"{CLIENT}, _hidden"], PROXY),
        ([f"{CLIENT}, 1.2.3.4; rm -rf"], PROXY),
        (["1.2.3.4.5"], PROXY),
        (["１.２.３.４"], PROXY),  # full-width digits
        (["010.0.0.1"], PROXY),  # leading zeros: octal to some parsers
        (["1.2.3.4:"], PROXY),
        (["1.2.3.4:http"], PROXY),
        (["1.2.3.4:123456"], PROXY),
        (["[2a00:1450::1"], PROXY),
        (["[2a00:1450::1]x"], PROXY),
        (["\x00"], PROXY),
        (["fe80::1%eth0"], PROXY),  # a zone id means nothing off its host
        (["fe80::1%<script>alert(1)</script>"], PROXY),
    ],
)
def test_garbage_in_the_chain_is_never_believed(chain: list[str], expected: str) -> None:
    assert client_ip(PROXY, chain, PROXIES) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.9", "198.51.100.9"),
        (" 198.51.100.9 ", "198.51.100.9"),
        ("198.51.100.9:4711", "198.51.100.9"),
        ("2a00:1450::1", "2a00:1450::1"),
        ("[2a00:1450::1]", "2a00:1450::1"),
        ("[2a00:1450::1]:443", "2a00:1450::1"),
        ("2A00:1450:0:0::1", "2a00:1450::1"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
        ("[::ffff:198.51.100.9]:80", "198.51.100.9"),
    ],
)
def test_addresses_are_read_with_ports_and_brackets_and_made_canonical(
    text: str, expected: str
) -> None:
    assert parse_address(text) == ipaddress.ip_address(expected)
    assert client_ip(PROXY, [text], PROXIES) == expected


def test_an_ipv4_mapped_peer_is_matched_against_ipv4_proxies() -> None:
    assert client_ip("::ffff:10.0.0.1", [CLIENT], PROXIES) == CLIENT
    assert client_ip("::ffff:203.0.113.7", [CLIENT], PROXIES) == "203.0.113.7"


def test_ipv6_proxies_and_clients() -> None:
    assert client_ip("2001:db8::1", ["2a00:1450::1, 2001:db8::2"], PROXIES) == "2a00:1450::1"
    assert client_ip("2a00:1450::7", ["2a00:1450::1"], PROXIES) == "2a00:1450::7"


def test_a_network_of_the_other_ip_version_trusts_nothing() -> None:
    assert client_ip(PROXY, [CLIENT], parse_networks("::/0")) == PROXY


def test_without_a_socket_peer_the_header_is_not_believed() -> None:
    assert client_ip(None, [CLIENT], PROXIES) == "unknown"
    assert client_ip("", [CLIENT], PROXIES) == "unknown"


# -- through the application: the test client's peer is 127.0.0.1 -----------------


async def _whoami(request: web.Request) -> web.Response:
    return web.json_response({"client_ip": request[appkeys.CLIENT_IP]})


@pytest.fixture
def app_client(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> Callable[[str], Awaitable[TestClient]]:
    async def make(trusted_proxies: str) -> TestClient:
        app = create_app(make_settings(trusted_proxies=parse_networks(trusted_proxies)))
        app.router.add_get("/test/whoami", _whoami)
        return await aiohttp_client(app)

    return make


async def test_the_app_ignores_a_forged_header_from_a_peer_that_is_not_a_proxy(
    app_client: Callable[[str], Awaitable[TestClient]],
) -> None:
    client = await app_client("10.0.0.0/8")
    resp = await client.get("/test/whoami", headers={"X-Forwarded-For": CLIENT})
    assert (await resp.json())["client_ip"] == "127.0.0.1"


async def test_the_app_believes_the_header_from_a_trusted_proxy(
    app_client: Callable[[str], Awaitable[TestClient]],
) -> None:
    client = await app_client("127.0.0.0/8")
    resp = await client.get("/test/whoami", headers={"X-Forwarded-For": f"6.6.6.6, {CLIENT}"})
    assert (await resp.json())["client_ip"] == CLIENT


async def test_the_app_uses_the_socket_peer_when_no_header_is_sent(
    app_client: Callable[[str], Awaitable[TestClient]],
) -> None:
    client = await app_client("127.0.0.0/8")
    resp = await client.get("/test/whoami")
    assert (await resp.json())["client_ip"] == "127.0.0.1"
