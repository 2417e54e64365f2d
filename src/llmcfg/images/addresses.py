"""Which IP addresses an image may be fetched from: llmcfg's own deny table.

Why not ``ipaddress.is_global``: its answer changes between Python patch releases (3.11.7 calls
``192.0.0.192``, the Oracle Cloud metadata address, and ``fec0::/10`` global), and an SSRF
check must not depend on which interpreter runs it. The table below is written out from the IANA
IPv4 and IPv6 Special-Purpose Address Registries, plus multicast, the reserved and unassigned space,
IPv6 site-local and one public address that answers inside every VM of its cloud (Azure's WireServer,
168.63.129.16); it is checked with plain network membership only, identical on every Python.

Whole registry blocks are denied, including the few anycast services inside them that IANA marks
globally reachable (192.0.0.9, AS112, AMT, ...): no image is ever served from them, and a shorter
table is easier to audit. IPv6 outside 2000::/3 (global unicast) is denied as a whole. IPv6 forms
that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4) are judged by
the IPv4 address they carry; Teredo is denied (and its embedded client checked for the message).
"""

from __future__ import annotations

import ipaddress

from llmcfg.exceptions import ForbiddenHostError

__all__ = ["DENIED_V4", "DENIED_V6", "IPAddress", "Network", "check_address", "embedded_ipv4", "is_public"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DENIED_V4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network" (RFC 791), incl. 0.0.0.0
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata 169.254.169.254 (RFC 3927)
        "168.63.129.16/32",  # Azure WireServer: public, yet every Azure VM reaches it as a host service
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments, incl. 192.0.0.192 (Oracle Cloud metadata)
        "192.0.2.0/24",  # documentation TEST-NET-1 (RFC 5737)
        "192.31.196.0/24",  # AS112-v4 (RFC 7535)
        "192.52.193.0/24",  # AMT (RFC 7450)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private
        "192.175.48.0/24",  # direct delegation AS112 (RFC 7534)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved (RFC 1112), incl. limited broadcast 255.255.255.255
    )
)

_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
DENIED_V6 = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "100:0:0:1::/64",  # dummy prefix (RFC 9780)
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112 ...
        "2001:db8::/32",  # documentation (RFC 3849)
        "2620:4f:8000::/48",  # direct delegation AS112
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing SIDs (RFC 9602)
        "fc00::/7",  # unique local (RFC 4193)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local, deprecated (RFC 3879) but still routed inside some networks
        "ff00::/8",  # multicast
    )
)

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo client)."""
    value = int(address)
    if address in _MAPPED or address in _NAT64 or (address in _COMPATIBLE and value > 1):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
    if address in _TEREDO:
        return ipaddress.IPv4Address(~value & 0xFFFFFFFF)  # the client address is stored inverted
    return None


def is_public(address: IPAddress) -> bool:
    """True only for an address no deny rule covers (the same answer on every Python)."""
    if isinstance(address, ipaddress.IPv4Address):
        return not any(address in block for block in DENIED_V4)
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    if address in _MAPPED or address in _NAT64 or address in _SIX_TO_FOUR:
        return True  # a translation of a public IPv4 address
    if address in _COMPATIBLE and int(address) > 1:
        return True
    if address not in _GLOBAL_UNICAST_V6:
        return False
    return not any(address in block for block in DENIED_V6)


def check_address(address: IPAddress, allowed_networks: list[Network]) -> None:
    """Refuse ``address`` unless it is public or inside a network the config allows."""
    if is_public(address) or any(address in network for network in allowed_networks):
        return
    raise ForbiddenHostError(f"address {address} is not a public internet address")
