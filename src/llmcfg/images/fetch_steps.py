"""The fetch protocol, once, without I/O: a generator that says what to do next and is told the
result. ``fetch`` and ``afetch`` are thin runners around it (fetch.py), so a check added here
holds for both; neither can skip a step the other does.

Per hop: check the URL (scheme, user info, whitelist) -> resolve -> check every address -> send to
the checked address -> on a redirect, start again with the new URL -> refuse an error status or a
declared length over the cap -> read the body, decoding gzip/deflate with a bound on the decoded
size -> judge the format from the bytes. A total deadline covers every hop and every read.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

from llmcfg.exceptions import ForbiddenHostError, ImageFetchError, ImageTooLargeError, NotAnImageError
from llmcfg.images.addresses import IPAddress, Network, check_address
from llmcfg.images.decode import SUPPORTED, sniff

__all__ = [
    "Driver",
    "FetchedImage",
    "Policy",
    "Receive",
    "Resolve",
    "Send",
    "Step",
    "check_steps",
    "fetch_steps",
    "shown_text",
    "shown_url",
]

_REDIRECTS = {301, 302, 303, 307, 308}
_T = TypeVar("_T")


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    content_type: str  # detected from the bytes
    url: str  # after redirects


@dataclass(frozen=True)
class Resolve:
    """Answer with the addresses (strings) ``host`` resolves to."""

    host: str
    port: int


@dataclass(frozen=True)
class Send:
    """GET ``url`` (already aimed at the checked address); answer with the response head."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        """The keywords for httpx's ``stream``: redirects are never followed by httpx itself."""
        return {"headers": self.headers, "extensions": self.extensions, "follow_redirects": False}


@dataclass(frozen=True)
class Receive:
    """Answer with the next raw (still encoded) body chunk, or b"" at the end."""


Step = Resolve | Send | Receive


@dataclass
class Policy:
    """The ``fetch`` settings the steps need, and the state of one fetch (a fresh copy each time,
    so concurrent fetches never share a deadline)."""

    allowed_domains: list[str]
    allow_http: bool
    allowed_networks: list[Network]
    max_bytes: int
    timeout_s: float
    max_redirects: int
    clock: Callable[[], float] = time.monotonic
    url: str = ""  # the URL being fetched (after redirects), for the refusal event
    deadline: float = field(default=0.0)

    def start(self, url: str) -> None:
        self.url = url
        self.deadline = self.clock() + self.timeout_s

    def remaining(self) -> float:
        """Seconds left of the total deadline; refuse once it has passed."""
        left = self.deadline - self.clock()
        if left <= 0:
            raise ImageFetchError(
                f"download took longer than fetch.timeout_s ({self.timeout_s:g} s, "
                "a total deadline for the whole fetch including redirects); stopped"
            )
        return left


class Driver(Generic[_T]):
    """Steps a runner through the generator: ``next()`` is the next step (None when done, then
    ``result`` holds the outcome); the runner sets ``reply`` to the step's answer first."""

    def __init__(self, steps: Generator[Step, Any, _T]) -> None:
        self._steps = steps
        self.reply: Any = None
        self._result: tuple[_T] | None = None

    def next(self) -> Step | None:
        try:
            return self._steps.send(self.reply)
        except StopIteration as done:
            self._result = (done.value,)
            return None

    @property
    def result(self) -> _T:
        assert self._result is not None, "the steps have not finished"
        return self._result[0]


_HIDDEN = "?\u2026"  # what stands for a query string and fragment in messages and events


# A path segment shaped like a credential (a bot token, a webhook secret, a JWT): 20 or more
# characters of a token's alphabet mixing at least two of lower case, upper case and digits, unless
# it is a file name (``IMG_20240101_123456.jpg``).
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_\-:.~+=%]{20,}")
_FILE_NAME = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,4}")
_CHARACTER_KINDS = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"))


def _credential_shaped(segment: str) -> bool:
    if not _TOKEN_SEGMENT.fullmatch(segment):
        return False
    name, dot, extension = segment.rpartition(".")
    if dot and name and _FILE_NAME.fullmatch(dot + extension):
        return False
    return sum(bool(kind.search(segment)) for kind in _CHARACTER_KINDS) >= 2


def shown_url(url: str) -> str:
    """``url`` as messages and events may show it: ``scheme://host[:port]/path``, the query and
    fragment replaced by ``?…``, the user info left out, a path segment shaped like a credential
    replaced by ``…``, at most 300 characters. Signed URLs carry their secret in the query
    (``X-Amz-Signature``, ``sig=``, ``token=``), some services in the path (a Telegram bot token, a
    webhook's secret): a log is no place for either. Plain string work, so a URL that does not even
    parse is shown the same way."""
    cuts = [index for index in (url.find("?"), url.find("#")) if index >= 0]
    head, hidden = (url[: min(cuts)], _HIDDEN) if cuts else (url, "")
    scheme, separator, rest = head.partition("://")
    if separator:
        authority, slash, path = rest.partition("/")
        path = "/".join("\u2026" if _credential_shaped(part) else part for part in path.split("/"))
        head = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return head[:300] + ("\u2026" if len(head) > 300 else "") + hidden


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def shown_text(text: str) -> str:
    """``text`` (a library's error message) with every URL in it shown as ``shown_url`` does."""
    return _URL_IN_TEXT.sub(lambda found: shown_url(found.group(0)), text)


def host_allowed(host: str, allowed_domains: list[str]) -> bool:
    """``example.com`` matches exactly; ``*.cdn.example.com`` matches its subdomains only."""
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


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, accepting the legacy numeric spellings (``127.1``, ``0x7f.1``,
    ``2130706433``, ``0177.0.0.1``) that C resolvers accept."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")


def _ascii_host(host: str) -> str:
    """The host as DNS sees it (IDNA for non-ASCII names); anything that is neither a host name
    nor an IP address (``%``, spaces, control characters) is refused before any lookup."""
    if literal_address(host) is not None:
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise ForbiddenHostError(f"host {host!r} is not a valid host name") from None
    if not _HOST_NAME.fullmatch(ascii_host) or ".." in ascii_host:
        raise ForbiddenHostError(f"host {host!r} is not a valid host name")
    return ascii_host


def check_url(url: str, policy: Policy) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, else ForbiddenHostError with the reason."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ForbiddenHostError(f"scheme {scheme or '(none)'!r} is not allowed; use https")
        if scheme == "http" and not policy.allow_http:
            raise ForbiddenHostError("plain http is not allowed (fetch.allow_http: false); use https")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise ForbiddenHostError("URLs with user info (user@host) are not allowed")
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:  # urlsplit and .port refuse malformed brackets and ports
        raise ForbiddenHostError(f"not a valid URL ({error})") from None
    if not host:
        raise ForbiddenHostError("URL has no host")
    host = _ascii_host(host)
    if not host_allowed(host, policy.allowed_domains):
        raise ForbiddenHostError(f"host {host!r} is not in fetch.allowed_domains")
    return scheme, host, port


def _checked(host: str, addresses: list[str], policy: Policy) -> str:
    """Every address the name has must pass; the connection goes to the first of them."""
    if not addresses:
        raise ImageFetchError(f"host {host!r} did not resolve")
    for text in addresses:
        check_address(ipaddress.ip_address(text.split("%")[0]), policy.allowed_networks)
    return addresses[0]


def _resolve_checked(host: str, port: int, policy: Policy) -> Generator[Step, Any, str]:
    literal = literal_address(host)
    if literal is not None:
        return _checked(host, [str(literal)], policy)
    addresses = yield Resolve(host, port)
    return _checked(host, list(addresses), policy)


def _pinned(url: str, scheme: str, host: str, port: int, address: str) -> Send:
    """The request aimed at the checked address, with the Host header and TLS name of the URL."""
    parts = urlsplit(url)
    ip_host = f"[{address}]" if ":" in address else address
    target = parts._replace(netloc=f"{ip_host}:{port}").geturl()
    default_port = port == (443 if scheme == "https" else 80)
    headers = {
        "Host": host if default_port else f"{host}:{port}",
        "Accept": "image/*",
        "Accept-Encoding": "gzip, deflate",
    }
    return Send(target, headers, {"sni_hostname": host} if scheme == "https" else {})


class _BoundedBody:
    """The body, decoded as it streams, never holding more than the cap plus one chunk: a gzip
    bomb is cut after ``max_bytes`` decoded bytes, whatever its compressed size."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.data = bytearray()
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflater: Any = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise ImageFetchError(f"Content-Encoding {encoding!r} is not supported (identity, gzip, deflate)")

    def _too_large(self) -> ImageTooLargeError:
        return ImageTooLargeError(
            f"image is larger than the limit of {self.max_bytes:,} bytes (decoded); download stopped"
        )

    def add(self, chunk: bytes) -> None:
        if self._inflater is None:
            self.data.extend(chunk)
            if len(self.data) > self.max_bytes:
                raise self._too_large()
            return
        pending = chunk
        while pending and not self._inflater.eof:
            room = self.max_bytes - len(self.data) + 1
            try:
                self.data.extend(self._inflater.decompress(pending, room))
            except zlib.error:
                raise NotAnImageError("the compressed body is corrupt") from None
            if len(self.data) > self.max_bytes:
                raise self._too_large()
            pending = self._inflater.unconsumed_tail


def _check_head(response: Any, max_bytes: int) -> None:
    if response.status_code >= 400:
        raise ImageFetchError(f"image URL answered HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes and not encoded:
        raise ImageTooLargeError(f"image is {int(declared):,} bytes; the limit is {max_bytes:,}")


def _redirect(url: str, response: Any, hops: int, policy: Policy) -> str:
    location = response.headers.get("location")
    if not location:
        raise ImageFetchError(f"redirect {response.status_code} without a Location")
    if hops >= policy.max_redirects:
        raise ForbiddenHostError(f"more than {policy.max_redirects} redirects")
    return urljoin(url, str(location))


def _image_kind(data: bytearray, url: str) -> str:
    kind = sniff(bytes(data[:16]))
    if kind is None:
        raise NotAnImageError(
            f"{shown_url(url)} is not an image: the body is not a JPEG, PNG, WEBP or GIF (judged from its bytes)"
        )
    return kind


def check_steps(url: str, policy: Policy) -> Generator[Step, Any, None]:
    """The policy check of ``url`` alone (URL, then every address it resolves to), no download:
    what a cache hit must still pass."""
    policy.start(url)
    _, host, port = check_url(url, policy)
    yield from _resolve_checked(host, port, policy)


def fetch_steps(url: str, policy: Policy) -> Generator[Step, Any, FetchedImage]:
    """The whole fetch of ``url``; see the module docstring for the order of the checks."""
    policy.start(url)
    for hops in range(policy.max_redirects + 1):
        scheme, host, port = check_url(policy.url, policy)
        address = yield from _resolve_checked(host, port, policy)
        policy.remaining()
        response = yield _pinned(policy.url, scheme, host, port, address)
        if response.status_code in _REDIRECTS:
            policy.url = _redirect(policy.url, response, hops, policy)
            continue
        _check_head(response, policy.max_bytes)
        body = _BoundedBody(response.headers.get("content-encoding", ""), policy.max_bytes)
        kind = None
        while chunk := (yield Receive()):
            body.add(chunk)
            policy.remaining()
            if kind is None and len(body.data) >= 16:
                kind = _image_kind(body.data, policy.url)  # an HTML page is refused at its first bytes
        return FetchedImage(bytes(body.data), SUPPORTED[_image_kind(body.data, policy.url)], policy.url)
    raise ForbiddenHostError(f"more than {policy.max_redirects} redirects")
