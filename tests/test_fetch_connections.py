"""The fetcher's connections, through both drivers, against servers and name servers that misbehave
at each stage: a name that does not exist, a host that never answers the connection, a TLS server
that never says hello, a response head that trickles, a test transport (no deadline wrapper), a
proxy named in the environment. The total deadline (``timeout_s``) must hold at every wait, not
only between reads of the body (those are tested in test_fetch_limits.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import structlog

from llmcfg import ImageFetchError
from llmcfg.testing import FakeProvider
from tests.fetching import DRIVERS, Driver, fetcher
from tests.images import png

DEADLINE_S = 0.5  # the fetches' timeout_s below
HOLD_S = 3.0  # how long the stalling servers below hold a connection before they give up (a fetch
# that ignored the deadline would end then, and fail its test)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_name_that_does_not_exist_is_refused_with_its_reason(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name server says NXDOMAIN: the refusal names the host (not a TypeError from an
    empty answer, not a hang)."""
    guarded = socket.getaddrinfo

    def name_server(name: object, port: object, *args: object, **kwargs: object) -> object:
        if name == "nowhere.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return guarded(name, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", name_server)
    with structlog.testing.capture_logs() as logs, pytest.raises(ImageFetchError) as refused:
        driver(fetcher(), "http://nowhere.test/a.png")
    assert str(refused.value) == "host 'nowhere.test' did not resolve"
    assert [event["reason"] for event in logs] == [str(refused.value)]


def _closing_after(sockets: list[socket.socket], seconds: float) -> threading.Timer:
    """Close ``sockets`` after ``seconds``: a stalled server that eventually gives up, so a fetch
    that ignores the deadline ends (and fails its test) instead of hanging the suite."""

    def close() -> None:
        for each in sockets:
            each.close()

    timer = threading.Timer(seconds, close)
    timer.daemon = True
    timer.start()
    return timer


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full (``listen(0)`` and one connection waiting): a new
    connection's SYN is dropped, as a host behind a firewall that drops packets does, until the
    listener closes after HOLD_S."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    waiting = socket.create_connection(("127.0.0.1", port))
    timer = _closing_after([server, waiting], HOLD_S)
    yield port
    timer.cancel()
    server.close()
    waiting.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_connection_that_is_never_answered_ends_at_the_deadline(
    unanswered_port: int, driver: Driver
) -> None:
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(fetcher(timeout_s=DEADLINE_S), f"http://127.0.0.1:{unanswered_port}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE_S + 0.6, f"{elapsed:.2f} s for a {DEADLINE_S} s deadline"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and says nothing (a TLS server that never sends its hello), then
    closes them after HOLD_S."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = [server]

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    timer = _closing_after(held, HOLD_S)
    yield server.getsockname()[1]
    timer.cancel()
    for each in held:
        each.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_tls_handshake_that_never_starts_ends_at_the_deadline(
    silent_server: int, driver: Driver, dns: dict[str, str]
) -> None:
    dns["silent.test"] = "127.0.0.1"
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(fetcher(timeout_s=DEADLINE_S), f"https://silent.test:{silent_server}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE_S + 0.6, f"{elapsed:.2f} s for a {DEADLINE_S} s deadline"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_test_transports_waits_are_cut_at_the_deadline_too(silent_server: int, driver: Driver) -> None:
    """A transport passed in (``transport``/``async_transport``, e.g. for a private CA) gets no
    deadline wrapper: the time left is then passed as httpx's own timeout for each request."""
    policy = fetcher(
        timeout_s=DEADLINE_S, transport=httpx.HTTPTransport(), async_transport=httpx.AsyncHTTPTransport()
    )
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(policy, f"http://127.0.0.1:{silent_server}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE_S + 0.6, f"{elapsed:.2f} s for a {DEADLINE_S} s deadline"


@pytest.fixture
def trickling_head() -> Iterator[int]:
    """Sends a response head a byte every 0.1 s (each read is quick, the head never ends), then
    closes after HOLD_S."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" + b"X-Padding: " + b"x" * 200 + b"\r\n\r\n"

    def trickle(connection: socket.socket) -> None:
        end = time.monotonic() + HOLD_S
        with contextlib.suppress(OSError), connection:
            connection.recv(65536)
            for byte in head:
                if time.monotonic() > end:
                    break
                connection.sendall(bytes([byte]))
                time.sleep(0.1)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=trickle, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_response_head_that_trickles_ends_at_the_deadline(trickling_head: int, driver: Driver) -> None:
    start = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"fetch\.timeout_s"):
        driver(fetcher(timeout_s=DEADLINE_S), f"http://127.0.0.1:{trickling_head}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE_S + 0.6, f"{elapsed:.2f} s for a {DEADLINE_S} s deadline"


PROXY_ASKED: list[str] = []


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that records what it is asked and refuses it."""

    def do_GET(self) -> None:
        PROXY_ASKED.append(self.requestline)
        self.send_error(502)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("driver", DRIVERS)
def test_proxy_settings_in_the_environment_are_ignored(
    fake: FakeProvider, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would resolve the name and connect itself, past every address check (and see the
    URL): the fetch goes straight to the checked address whatever ``*_PROXY`` says."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    PROXY_ASKED.clear()
    try:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_address[1]}")
        url = fake.serve("/a.png", png())
        assert driver(fetcher(), url).data == png()
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert PROXY_ASKED == []
    assert fake.gets == ["/a.png"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_timeout_before_the_deadline_names_the_setting(driver: Driver) -> None:
    """httpx's own timeout can fire a moment before the deadline (each wait gets the time left):
    the refusal still names ``fetch.timeout_s``. The remote end here is a transport that times out."""

    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    transport = httpx.MockTransport(timing_out)
    with pytest.raises(ImageFetchError) as refused:
        driver(fetcher(transport=transport, async_transport=transport), "http://127.0.0.1:9/a.png")
    assert str(refused.value) == "download timed out (fetch.timeout_s: 5 s)"
