"""llmcfg's own address deny table (IANA special-purpose registries and more), tried literally,
through DNS and as redirect targets, with the same answer on every Python (no ``is_global``)."""

from __future__ import annotations

import ipaddress
import re

import pytest

from llmcfg import ForbiddenHostError
from llmcfg.images.addresses import DENIED_V4, DENIED_V6, check_address, is_public
from llmcfg.testing import FakeProvider
from tests.conftest import blocked_connections
from tests.fetching import DRIVERS, Driver, fetcher
from tests.images import png

# Addresses that ipaddress.is_global calls public on some supported Python (3.11.7 here), or that
# an attacker reaches for first: each must be refused on every version.
TRICKY = [
    "192.0.0.192",  # Oracle Cloud metadata
    "192.0.0.1",
    "192.0.0.9",
    "192.0.0.170",
    "192.0.0.255",
    "100.64.0.1",
    "100.127.255.254",
    "198.18.0.1",
    "198.19.255.255",
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
    "192.31.196.1",
    "192.175.48.1",
    "192.52.193.1",
    "233.252.0.1",
    "239.255.255.250",
    "[fec0::1]",
    "[feff:ffff::1]",
    "[2001:db8::1]",
    "[3fff::1]",
    "[5f00::1]",
    "[64:ff9b:1::a9fe:a9fe]",
    "[100::1]",
    "[2001:2::1]",
    "[2001::a9fe:a9fe]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[::ffff:192.0.0.192]",
    "[::ffff:c000:c0]",
    "[64:ff9b::c000:c0]",
    "[64:ff9b::100.64.0.1]",
    "[2002:c000:c0::1]",
    "[::192.0.0.192]",
    "[ff05::1:3]",
    "[4000::1]",  # outside global unicast 2000::/3: unassigned
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "168.63.129.16",  # Azure WireServer: a public address every Azure VM reaches as host-node service
    "[::ffff:168.63.129.16]",
    "[64:ff9b::a83f:8110]",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "192.0.1.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


def _bare(host: str) -> str:
    return host.strip("[]")


@pytest.mark.parametrize("host", TRICKY)
def test_special_purpose_addresses_are_refused_literally(fake: FakeProvider, host: str) -> None:
    before = len(blocked_connections)
    with pytest.raises(ForbiddenHostError, match="not a public internet address"):
        fetcher(allow_private_networks=False).fetch(f"http://{host}:{fake.port}/a.png")
    assert fake.gets == []
    assert len(blocked_connections) == before


@pytest.mark.parametrize("host", TRICKY)
def test_special_purpose_addresses_are_refused_through_dns(
    fake: FakeProvider, dns: dict[str, str], host: str
) -> None:
    dns["innocent.test"] = _bare(host)
    canonical = re.escape(str(ipaddress.ip_address(_bare(host))))
    with pytest.raises(ForbiddenHostError, match=f"address {canonical} is not a public"):
        fetcher(allow_private_networks=False).fetch(f"http://innocent.test:{fake.port}/a.png")
    assert fake.gets == []


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("host", [*TRICKY, "169.254.169.254", "10.0.0.1", "[::1]"])
def test_special_purpose_addresses_are_refused_as_redirect_targets_without_a_whitelist(
    fake: FakeProvider, host: str, driver: Driver
) -> None:
    """The first hop (the fake, allowed by network) passes; the redirect's target must not."""
    url = fake.redirect("/r", f"http://{host}/latest/meta-data/")
    fake.serve("/latest/meta-data/", png())
    with pytest.raises(ForbiddenHostError, match="not a public internet address"):
        driver(fetcher(), url)  # no allowed_domains: only the address check stands in the way
    assert fake.gets == ["/r"]


@pytest.mark.parametrize("block", [*DENIED_V4, *DENIED_V6], ids=str)
def test_every_denied_block_is_refused_at_both_ends(
    block: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    second = block.network_address + min(1, block.num_addresses - 1)  # a /32 has one address
    for address in (block.network_address, block.broadcast_address, second):
        assert not is_public(address), address
        with pytest.raises(ForbiddenHostError, match="is not a public internet address"):
            check_address(address, [])


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))
    check_address(ipaddress.ip_address(text), [])


def test_the_table_does_not_depend_on_ipaddress_is_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this Python's ``is_global`` says, the answer is the table's."""
    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        monkeypatch.setattr(cls, "is_global", property(lambda self: True))
        monkeypatch.setattr(cls, "is_private", property(lambda self: False))
    assert not is_public(ipaddress.ip_address("10.0.0.1"))
    assert not is_public(ipaddress.ip_address("fec0::1"))
    assert is_public(ipaddress.ip_address("8.8.8.8"))


def test_allowed_networks_open_only_what_they_name() -> None:
    check_address(ipaddress.ip_address("10.1.2.3"), [ipaddress.ip_network("10.1.0.0/16")])
    with pytest.raises(ForbiddenHostError):
        check_address(ipaddress.ip_address("10.2.0.1"), [ipaddress.ip_network("10.1.0.0/16")])
