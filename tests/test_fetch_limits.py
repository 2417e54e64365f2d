"""The fetcher's limits, through both drivers: a total deadline (a slow server cannot hold a fetch
open), a cap on the DECODED size (a gzip bomb stays O(cap) in memory), every DNS answer checked,
and every refusal an ImageFetchError subclass with its reason and one ``image.fetch_refused``."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import structlog

from llmcfg import ForbiddenHostError, ImageFetchError, ImageTooLargeError
from llmcfg.images.fetch import ImageFetcher
from llmcfg.testing import FakeProvider
from tests.fetching import DRIVERS, Driver, fetcher, resolve_to
from tests.images import png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def trickle(count: int, every_s: float) -> Iterator[bytes]:
    """An image body sent one byte at a time (the slow-loris server)."""
    for byte in (PNG_MAGIC + b"\0" * count)[:count]:
        yield bytes([byte])
        time.sleep(every_s)


def refusal_and_peak(driver: Driver, policy: ImageFetcher, url: str) -> tuple[ImageFetchError, int]:
    """The refusal of ``url`` and the peak of traced memory while it was being fetched."""
    tracemalloc.start()
    try:
        with pytest.raises(ImageFetchError) as refused:
            driver(policy, url)
        return refused.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("every_s", "timeout_s"), [(1.0, 3), (0.5, 2)])
@pytest.mark.parametrize("driver", DRIVERS)
def test_timeout_is_a_total_deadline_against_a_slow_loris(
    fake: FakeProvider, driver: Driver, every_s: float, timeout_s: int
) -> None:
    """Each read is quick (a byte every ``every_s``), so a per-read timeout never fires: the
    deadline for the whole fetch must end it, though the body would take 6 s."""
    url = fake.serve("/slow.png", lambda: trickle(round(6 / every_s), every_s), content_type="image/png")
    start = time.monotonic()
    refused, peak = refusal_and_peak(driver, fetcher(timeout_s=timeout_s), url)
    elapsed = time.monotonic() - start
    assert f"longer than fetch.timeout_s ({timeout_s} s, a total deadline" in str(refused)
    assert timeout_s - 0.1 <= elapsed < timeout_s + every_s + 0.2, (
        f"{elapsed:.1f} s for a {timeout_s} s deadline"
    )
    print(f"slow server: ended after {elapsed:.2f} s, peak traced memory {peak / 1024:.0f} KiB")


class _SlowRedirects(BaseHTTPRequestHandler):
    """/hop/N waits 0.8 s before answering 302 to /hop/N+1; /hop/4 is an image."""

    def do_GET(self) -> None:
        number = int(self.path.rsplit("/", 1)[-1])
        time.sleep(0.8)
        if number >= 4:
            body = png()
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", f"/hop/{number + 1}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_redirects() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowRedirects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_deadline_covers_redirects(slow_redirects: int, driver: Driver) -> None:
    """Hops of 0.8 s each add up past a 2 s deadline, though no single one is slow."""
    url = f"http://127.0.0.1:{slow_redirects}/hop/1"
    assert driver(fetcher(timeout_s=5, max_redirects=5), url).content_type == "image/png"  # 3.2 s
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(fetcher(timeout_s=2, max_redirects=5), url)
    assert time.monotonic() - start < 2.5


class _Stall(BaseHTTPRequestHandler):
    """Sends headers and four bytes of a PNG, 0.4 s apart, then says nothing until released."""

    release = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for byte in PNG_MAGIC[:4]:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.4)
        self.release.wait(15)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stalling_server() -> Iterator[int]:
    _Stall.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stall)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    _Stall.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_server_that_stalls_mid_body_is_cut_at_the_deadline(stalling_server: int, driver: Driver) -> None:
    """1.6 s of trickle, then silence: a read that starts then must end at the deadline (2 s),
    not one whole read timeout later."""
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(fetcher(timeout_s=2), f"http://127.0.0.1:{stalling_server}/stall.png")
    elapsed = time.monotonic() - start
    assert elapsed < 2.4, f"{elapsed:.2f} s for a 2 s deadline"


GIB = 1024**3


def _gzip_bomb() -> bytes:
    """1 GiB of an 'image' (PNG magic, then zeros), gzip-compressed to about 1 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(PNG_MAGIC)]
    block = b"\0" * (4 * 1024 * 1024)
    parts += [packer.compress(block) for _ in range(GIB // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return _gzip_bomb()


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_gzip_bomb_is_cut_at_the_decoded_cap_in_bounded_memory(
    fake: FakeProvider, driver: Driver, gzip_bomb: bytes, encoding: str
) -> None:
    def body() -> Iterator[bytes]:
        for start in range(0, len(gzip_bomb), 64 * 1024):
            yield gzip_bomb[start : start + 64 * 1024]

    url = fake.serve("/bomb.png", body, content_type="image/png", headers={"Content-Encoding": encoding})
    fake.serve("/warm.png", png())
    driver(fetcher(), f"http://127.0.0.1:{fake.port}/warm.png")  # one-time costs (TLS context) first
    cap = 1024 * 1024
    refused, peak = refusal_and_peak(driver, fetcher(max_size_mb=1), url)
    assert isinstance(refused, ImageTooLargeError)
    assert "limit of 1,048,576 bytes (decoded)" in str(refused)
    print(f"gzip bomb ({len(gzip_bomb):,} bytes -> 1 GiB) against a 1 MB cap: peak {peak / 2**20:.2f} MiB")
    assert peak < 4 * cap, f"peak {peak:,} bytes for a {cap:,}-byte cap"


@pytest.mark.parametrize("driver", DRIVERS)
def test_gzip_and_deflate_bodies_under_the_cap_are_decoded(fake: FakeProvider, driver: Driver) -> None:
    image = png()
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    gzipped = packer.compress(image) + packer.flush()
    url = fake.serve("/z.png", gzipped, content_type="image/png", headers={"Content-Encoding": "gzip"})
    assert driver(fetcher(), url).data == image
    url = fake.serve(
        "/d.png", zlib.compress(image), content_type="image/png", headers={"Content-Encoding": "deflate"}
    )
    assert driver(fetcher(), url).data == image
    url = fake.serve("/b.png", image, content_type="image/png", headers={"Content-Encoding": "br"})
    with pytest.raises(ImageFetchError, match="Content-Encoding 'br' is not supported"):
        driver(fetcher(), url)


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_address_of_a_dns_answer_is_checked(
    fake: FakeProvider, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public address first and a private one second: the private one refuses the whole name
    (checking only the first would connect to the public one, which the network guard stops)."""
    resolve_to(monkeypatch, "mixed.test", ["93.184.216.34", "10.0.0.1"])
    with pytest.raises(ForbiddenHostError, match=r"address 10\.0\.0\.1 is not a public"):
        driver(fetcher(), f"http://mixed.test:{fake.port}/a.png")
    resolve_to(monkeypatch, "mixed2.test", ["127.0.0.1", "169.254.169.254"])
    with pytest.raises(ForbiddenHostError, match=r"address 169\.254\.169\.254 is not a public"):
        driver(fetcher(), f"http://mixed2.test:{fake.port}/a.png")
    assert fake.gets == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_connection_goes_to_the_address_that_was_checked(
    fake: FakeProvider, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding name server: first the allowed address, then a private one for every later
    lookup. One lookup, the checked address used: the second answer is never asked for."""
    lookups = resolve_to(monkeypatch, "rebind.test", ["127.0.0.1"], ["10.0.0.1"])
    fake.serve("/a.png", png())
    assert driver(fetcher(), f"http://rebind.test:{fake.port}/a.png").content_type == "image/png"
    assert lookups == ["rebind.test"]
    assert fake.gets == ["/a.png"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_deadline_covers_a_slow_dns_lookup(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name server that answers after 3 s (an attacker's own domain can): a 1 s fetch ends at
    1 s, in both drivers. The sync runner used to wait for getaddrinfo however long it took, and
    asyncio.run waited for the lookup left in its default executor. The lookup given up runs on in
    a daemon thread (interpreter exit does not wait for it) named for what it is."""
    guarded = socket.getaddrinfo
    lookup_threads: list[tuple[str, bool]] = []

    def slow_name_server(name: object, port: object, *args: object, **kwargs: object) -> object:
        if name == "slow-dns.test":
            lookup_threads.append((threading.current_thread().name, threading.current_thread().daemon))
            time.sleep(3)
            name = "127.0.0.1"
        return guarded(name, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_name_server)
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"longer than fetch\.timeout_s \(1 s, a total deadline"):
        driver(fetcher(timeout_s=1), "http://slow-dns.test/a.png")
    assert time.monotonic() - start < 1.8
    assert lookup_threads == [("llmcfg-fetch-lookup", True)]


REFUSALS = [
    ("ftp://example.test/a.png", "scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("gopher://127.0.0.1:11211/_stats", "scheme 'gopher' is not allowed"),
    ("dict://127.0.0.1:6379/info", "scheme 'dict' is not allowed"),
    ("jar:http://example.test/a.png!/", "scheme 'jar' is not allowed"),
    ("//example.test/a.png", "scheme '\\(none\\)' is not allowed"),
    ("http://[::1/a.png", "not a valid URL"),
    ("http://[fe80::1%eth0]/a.png", "not a public internet address"),
    ("http://example.test:99999/a.png", "not a valid URL"),
    ("http://example.test:-1/a.png", "not a valid URL"),
    ("http://example.test:80:80/a.png", "not a valid URL"),
    ("http://exa mple.test/a.png", "not a valid host name"),
    ("http://example.test\x00.evil.test/a.png", "not a valid host name"),
    ("http://example..test/a.png", "not a valid host name"),
    ("http://-example.test/a.png", "not a valid host name"),
    ("http://xn--/a.png", "not a valid host name|did not resolve"),
    ("http://\u2488.test/a.png", "not a valid host name|did not resolve"),
    ("http:///a.png", "URL has no host"),
    ("http://0/a.png", "not a public internet address"),
    ("http://127.0.0.1.nip.io.@127.0.0.1/a.png", "user info"),
]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(("url", "reason"), REFUSALS)
def test_every_refusal_is_an_image_fetch_error_with_its_reason_and_one_event(
    url: str, reason: str, driver: Driver
) -> None:
    with structlog.testing.capture_logs() as logs, pytest.raises(ImageFetchError, match=reason) as refused:
        driver(fetcher(allow_private_networks=False), url)
    assert type(refused.value).__module__ == "llmcfg.exceptions"
    events = [event for event in logs if event["event"] == "image.fetch_refused"]
    assert len(events) == 1
    assert events[0]["reason"] == str(refused.value)
    assert events[0]["error"] == type(refused.value).__name__
