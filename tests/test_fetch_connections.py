"""The fetcher's connections, through both drivers, against servers and name servers that misbehave
at each stage: a name that does not exist, a host that never answers the connection, a TLS server
that never says hello. The total deadline (``timeout_s``) must hold at every wait, not only
between reads (the reads are tested in test_fetch_limits.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import structlog

from llmcfg import ImageFetchError
from tests.fetching import DRIVERS, Driver, fetcher

HOLD_S = 3.0  # how long the stalling servers below hold a connection before they give up


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
        driver(fetcher(timeout_s=1), f"http://127.0.0.1:{unanswered_port}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < 1.6, f"{elapsed:.2f} s for a 1 s deadline"


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
        driver(fetcher(timeout_s=1), f"https://silent.test:{silent_server}/a.png")
    elapsed = time.monotonic() - start
    assert elapsed < 1.6, f"{elapsed:.2f} s for a 1 s deadline"
