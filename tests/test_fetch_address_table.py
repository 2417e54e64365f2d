"""The deny table's logic without a network: which IPv4 address an IPv6 form carries, where the
special blocks begin and end, and what ``allow_private_networks`` opens. (Fetches through each
blocked class are in test_fetch_addresses.py.)"""

from __future__ import annotations

import ipaddress

import pytest

from llmcfg import ForbiddenHostError
from llmcfg.images.addresses import Network, check_address, embedded_ipv4, is_public


@pytest.mark.parametrize(
    ("v6", "v4"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),  # IPv4-mapped
        ("::ffff:255.255.255.255", "255.255.255.255"),
        ("64:ff9b::1.2.3.4", "1.2.3.4"),  # NAT64
        ("::1.2.3.4", "1.2.3.4"),  # IPv4-compatible
        ("::2", "0.0.0.2"),
        ("2002:102:304::1", "1.2.3.4"),  # 6to4: the 32 bits after 2002:
        ("2002:ffff:ffff:ffff::", "255.255.255.255"),
        ("2002:a9fe:a9fe:1234:5678:9abc:def0:1", "169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo: the client, stored inverted
        ("2001:0:1:2:3:4:ffff:ffff", "0.0.0.0"),
    ],
)
def test_the_ipv4_address_an_ipv6_form_carries(v6: str, v4: str) -> None:
    assert str(embedded_ipv4(ipaddress.IPv6Address(v6))) == v4


@pytest.mark.parametrize("v6", ["::", "::1", "2606:4700::1111", "2001:1::1", "fe80::1"])
def test_other_ipv6_addresses_carry_none(v6: str) -> None:
    assert embedded_ipv4(ipaddress.IPv6Address(v6)) is None


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("9.255.255.255", True),
        ("10.0.0.0", False),
        ("10.255.255.255", False),
        ("11.0.0.0", True),
        ("100.63.255.255", True),
        ("100.64.0.0", False),
        ("100.128.0.0", True),
        ("168.63.129.15", True),
        ("168.63.129.16", False),
        ("168.63.129.17", True),
        ("172.15.255.255", True),
        ("172.16.0.0", False),
        ("172.32.0.0", True),
        ("223.255.255.255", True),
        ("224.0.0.0", False),
        ("255.255.255.255", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::a00:1", False),
        ("::8.8.8.8", True),
        ("::10.0.0.1", False),
        ("::", False),
        ("::1", False),
        ("::2", False),  # carries 0.0.0.2 ("this network")
        ("2002:808:808::1", True),
        ("2002:a00:1::1", False),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", False),  # Teredo, even with a public client (8.8.8.8)
        ("2001:1ff:ffff::1", False),  # the end of 2001::/23
        ("2001:200::1", True),  # just after it
        ("2606:4700:4700::1111", True),
        ("1fff:ffff::1", False),  # before 2000::/3
        ("2000::1", True),
        ("3fff:fff:ffff::1", False),  # documentation 3fff::/20 ...
        ("3fff:1000::1", True),  # ... and just after it
        ("4000::1", False),
        ("fc00::1", False),
    ],
)
def test_where_the_deny_table_begins_and_ends(text: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(text)) is public


def test_a_refused_address_is_named_and_allowed_networks_open_only_what_they_name() -> None:
    check_address(ipaddress.ip_address("8.8.8.8"), [])
    with pytest.raises(ForbiddenHostError) as caught:
        check_address(ipaddress.ip_address("10.1.2.3"), [])
    assert str(caught.value) == "address 10.1.2.3 is not a public internet address"
    networks: list[Network] = [ipaddress.ip_network("192.168.0.0/24"), ipaddress.ip_network("10.1.0.0/16")]
    check_address(ipaddress.ip_address("10.1.2.3"), networks)
    check_address(ipaddress.ip_address("192.168.0.7"), networks)
    with pytest.raises(ForbiddenHostError):
        check_address(ipaddress.ip_address("10.2.0.1"), networks)
    with pytest.raises(ForbiddenHostError):
        check_address(ipaddress.ip_address("::1"), [ipaddress.ip_network("fe80::/10")])
    check_address(ipaddress.ip_address("::1"), [ipaddress.ip_network("::1/128")])
