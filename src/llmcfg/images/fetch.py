"""Download images without becoming a proxy into the private network (SSRF).

Each hop (the first URL and every redirect) is checked the same way: scheme, userinfo, the domain
whitelist, then every address the name resolves to must be globally routable (IPv4-in-IPv6 forms
and numeric spellings included). The connection then goes to the address that was checked, never
to a second lookup, so DNS rebinding cannot slip through; TLS still verifies the hostname (SNI).
Bodies are streamed and cut at the size cap; the format is judged from the bytes.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import structlog

from llmcfg.exceptions import ForbiddenHostError, ImageFetchError, ImageTooLargeError, NotAnImageError
from llmcfg.images.decode import SUPPORTED, sniff

__all__ = ["FetchedImage", "ImageFetcher", "check_address"]

_logger = structlog.get_logger("llmcfg")
_REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CHUNK = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    content_type: str  # detected from the bytes
    url: str  # after redirects


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, NAT64, compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, IPv4-compatible (deprecated)
        return ipaddress.IPv4Address(int(address))
    teredo = address.teredo
    return teredo[1] if teredo is not None else None


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and not _is_public(inner):
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local
    )


def check_address(
    address: IPAddress, allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> None:
    if _is_public(address) or any(address in network for network in allowed_networks):
        return
    raise ForbiddenHostError(f"address {address} is not a public internet address")


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, accepting the legacy numeric spellings (``127.1``, ``0x7f.1``,
    ``2130706433``, ``0177.0.0.1``) that C resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _host_allowed(host: str, allowed_domains: list[str]) -> bool:
    if not allowed_domains:
        return True
    for pattern in allowed_domains:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


class ImageFetcher:
    """Fetch images by URL under a policy (the ``fetch`` section of the config, as keywords).

    ``transport`` is the test seam (an httpx transport); ``resolver`` maps (host, port) to
    addresses and defaults to the system resolver.
    """

    def __init__(
        self,
        *,
        allowed_domains: Iterable[str] = (),
        allow_http: bool = False,
        allow_private_networks: bool | Iterable[str] = False,
        max_size_mb: float = 10.0,
        timeout_s: float = 30.0,
        max_redirects: int = 3,
        max_pixels: int | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed_domains = [d.lower() for d in allowed_domains]
        self.allow_http = allow_http
        if allow_private_networks is True:
            networks = ["0.0.0.0/0", "::/0"]
        elif allow_private_networks is False:
            networks = []
        else:
            networks = list(allow_private_networks)
        self.allowed_networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.max_bytes = int(max_size_mb * 1024 * 1024)
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.max_pixels = max_pixels
        self._transport = transport
        self._async_transport = async_transport

    # -- one hop ----------------------------------------------------------------------------------
    def _check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL, else ForbiddenHostError."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ForbiddenHostError(f"scheme {scheme or '(none)'!r} is not allowed; use https")
        if scheme == "http" and not self.allow_http:
            raise ForbiddenHostError("plain http is not allowed (fetch.allow_http: false); use https")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise ForbiddenHostError("URLs with user info (user@host) are not allowed")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise ForbiddenHostError("URL has no host")
        if not _host_allowed(host, self.allowed_domains):
            raise ForbiddenHostError(f"host {host!r} is not in fetch.allowed_domains")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ForbiddenHostError("URL has an invalid port") from None
        return scheme, host, port

    def _checked_address(self, host: str, addresses: list[str]) -> str:
        if not addresses:
            raise ImageFetchError(f"host {host!r} did not resolve")
        for text in addresses:
            check_address(ipaddress.ip_address(text.split("%")[0]), self.allowed_networks)
        return str(addresses[0])

    def _resolve(self, host: str, port: int) -> str:
        literal = _literal_address(host)
        if literal is not None:
            return self._checked_address(host, [str(literal)])
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise ImageFetchError(f"host {host!r} did not resolve") from None
        return self._checked_address(host, [str(info[4][0]) for info in infos])

    async def _aresolve(self, host: str, port: int) -> str:
        literal = _literal_address(host)
        if literal is not None:
            return self._checked_address(host, [str(literal)])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise ImageFetchError(f"host {host!r} did not resolve") from None
        return self._checked_address(host, [str(info[4][0]) for info in infos])

    @staticmethod
    def _pinned(
        url: str, scheme: str, host: str, port: int, address: str
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """URL aimed at the checked address, with the Host header and TLS name of the original."""
        parts = urlsplit(url)
        ip_host = f"[{address}]" if ":" in address else address
        target = parts._replace(netloc=f"{ip_host}:{port}").geturl()
        default_port = port == (443 if scheme == "https" else 80)
        headers = {"Host": host if default_port else f"{host}:{port}", "Accept": "image/*"}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        return target, headers, extensions

    def _redirect(self, url: str, response: httpx.Response, hops: int) -> str:
        location = response.headers.get("location")
        if not location:
            raise ImageFetchError(f"redirect {response.status_code} without a Location")
        if hops >= self.max_redirects:
            raise ForbiddenHostError(f"more than {self.max_redirects} redirects")
        return urljoin(url, str(location))

    def _check_declared_size(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise ImageFetchError(f"image URL answered HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageTooLargeError(f"image is {int(declared):,} bytes; the limit is {self.max_bytes:,}")

    def _accept_chunk(self, body: bytearray, chunk: bytes) -> None:
        body.extend(chunk)
        if len(body) > self.max_bytes:
            raise ImageTooLargeError(
                f"image is larger than the limit of {self.max_bytes:,} bytes; download stopped"
            )

    def _finish(self, body: bytearray, url: str) -> FetchedImage:
        kind = sniff(bytes(body[:16]))
        if kind is None:
            raise NotAnImageError(f"{url} did not return a JPEG, PNG, WEBP or GIF image")
        return FetchedImage(bytes(body), SUPPORTED[kind], url)

    def _refused(self, url: str, error: ImageFetchError) -> ImageFetchError:
        _logger.warning(
            "image.fetch_refused", host=urlsplit(url).hostname, error=type(error).__name__, reason=str(error)
        )
        return error

    # -- public -----------------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchedImage:
        """Download an image; ImageFetchError subclasses say why not."""
        current = url
        try:
            with httpx.Client(
                transport=self._transport, timeout=self.timeout_s, follow_redirects=False
            ) as client:
                for hops in range(self.max_redirects + 1):
                    scheme, host, port = self._check_url(current)
                    target, headers, extensions = self._pinned(
                        current, scheme, host, port, self._resolve(host, port)
                    )
                    with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                        if response.status_code in _REDIRECTS:
                            current = self._redirect(current, response, hops)
                            continue
                        self._check_declared_size(response)
                        body = bytearray()
                        for chunk in response.iter_bytes(_CHUNK):
                            self._accept_chunk(body, chunk)
                        return self._finish(body, current)
                raise ForbiddenHostError(f"more than {self.max_redirects} redirects")
        except ImageFetchError as error:
            raise self._refused(current, error) from None
        except httpx.HTTPError as error:
            raise self._refused(
                current, ImageFetchError(f"download failed: {type(error).__name__}")
            ) from error

    async def afetch(self, url: str) -> FetchedImage:
        """``fetch``, awaited."""
        current = url
        try:
            async with httpx.AsyncClient(
                transport=self._async_transport, timeout=self.timeout_s, follow_redirects=False
            ) as client:
                for hops in range(self.max_redirects + 1):
                    scheme, host, port = self._check_url(current)
                    address = await self._aresolve(host, port)
                    target, headers, extensions = self._pinned(current, scheme, host, port, address)
                    async with client.stream(
                        "GET", target, headers=headers, extensions=extensions
                    ) as response:
                        if response.status_code in _REDIRECTS:
                            current = self._redirect(current, response, hops)
                            continue
                        self._check_declared_size(response)
                        body = bytearray()
                        async for chunk in response.aiter_bytes(_CHUNK):
                            self._accept_chunk(body, chunk)
                        return self._finish(body, current)
                raise ForbiddenHostError(f"more than {self.max_redirects} redirects")
        except ImageFetchError as error:
            raise self._refused(current, error) from None
        except httpx.HTTPError as error:
            raise self._refused(
                current, ImageFetchError(f"download failed: {type(error).__name__}")
            ) from error

    def fetch_data_url(self, url: str) -> str:
        fetched = self.fetch(url)
        return f"data:{fetched.content_type};base64,{base64.b64encode(fetched.data).decode()}"
