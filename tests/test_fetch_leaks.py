"""What a fetch must not hand to anyone else: the secret of a signed URL (its query string or
fragment) to messages, events or exception chains, and the connection to a proxy named in the
environment (a proxy resolves the name itself, so the address llmcfg checked would not be the one
reached). Both drivers."""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from llmcfg import ImageFetchError, NotAnImageError
from llmcfg.images.fetch_steps import shown_text, shown_url
from llmcfg.testing import FakeProvider
from tests.fetching import DRIVERS, Driver, fetcher
from tests.images import png

# Spelt so that no source line shows them whole: a traceback prints the test's own lines too.
SIGNATURE, TOKEN, FRAGMENT, PASSWORD = (
    f"{word}-{n}" for n, word in enumerate(("SIG", "TOK", "FRAG", "PW"), 1)
)
SECRETS = (SIGNATURE, TOKEN, FRAGMENT, PASSWORD)
SIGNED = f"?X-Amz-Signature={SIGNATURE}&token={TOKEN}"


def chain(error: BaseException) -> list[BaseException]:
    """The error and every exception a traceback or an error tracker would show with it."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return seen


def assert_no_secret(error: BaseException, logs: list[dict[str, Any]]) -> None:
    """Nowhere: not the message, the formatted traceback, any attribute of any exception in the
    chain (an httpx error keeps its request, whose repr is the full URL), nor any logged event."""
    shown = [
        "".join(traceback.format_exception(error)),
        *(repr(vars(link)) for link in chain(error)),
        *(repr(event) for event in logs),
    ]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, text


def refusal(driver: Driver, url: str) -> tuple[ImageFetchError, list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as logs, pytest.raises(ImageFetchError) as refused:
        driver(fetcher(), url)
    assert [e["event"] for e in logs].count("image.fetch_refused") == 1
    return refused.value, logs


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("tail", [SIGNED, f"#access_token={FRAGMENT}", f"{SIGNED}#{FRAGMENT}"])
def test_not_an_image_shows_the_url_without_its_query_or_fragment(
    fake: FakeProvider, driver: Driver, tail: str
) -> None:
    fake.serve("/page.html" + tail.partition("#")[0], b"<html>" + b" " * 64, content_type="text/html")
    error, logs = refusal(driver, f"{fake.root_url}/page.html{tail}")
    assert isinstance(error, NotAnImageError)
    assert str(error).startswith(f"{fake.root_url}/page.html?\u2026 is not an image")
    (event,) = [e for e in logs if e["event"] == "image.fetch_refused"]
    assert event["url"] == f"{fake.root_url}/page.html?\u2026"
    assert_no_secret(error, logs)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_redirect_target_is_shown_without_its_query(fake: FakeProvider, driver: Driver) -> None:
    fake.serve("/target.html" + SIGNED, b"<html>" + b" " * 64, content_type="text/html")
    start = fake.redirect("/start.png", f"/target.html{SIGNED}")
    error, logs = refusal(driver, start)
    assert str(error).startswith(f"{fake.root_url}/target.html?\u2026 is not an image")
    assert_no_secret(error, logs)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_download_keeps_no_httpx_error_holding_the_url(driver: Driver) -> None:
    """Nothing listens on port 1: httpx's ConnectError holds the request (and its URL); the
    refusal says what failed without chaining it."""
    error, logs = refusal(driver, f"http://127.0.0.1:1/a.png{SIGNED}#{FRAGMENT}")
    assert str(error).startswith("download failed: ConnectError")
    assert_no_secret(error, logs)


@pytest.mark.parametrize("driver", DRIVERS)
def test_user_info_never_reaches_the_event(driver: Driver) -> None:
    error, logs = refusal(driver, f"http://user:{PASSWORD}@127.0.0.1/a.png{SIGNED}")
    assert "user info" in str(error)
    (event,) = [e for e in logs if e["event"] == "image.fetch_refused"]
    assert event["url"] == "http://127.0.0.1/a.png?\u2026"
    assert_no_secret(error, logs)


def test_vision_refusal_events_and_traceback_hold_no_secret(fake: FakeProvider, llm: Any) -> None:
    from llmcfg.images.fetch import ImageFetcher

    fake.serve("/page.html" + SIGNED, b"<html>" + b" " * 64, content_type="text/html")
    llm._fetcher = ImageFetcher(allow_http=True, allow_private_networks=["127.0.0.1/32"])
    with structlog.testing.capture_logs() as logs, pytest.raises(NotAnImageError) as refused:
        llm.vision(f"{fake.root_url}/page.html{SIGNED}#{FRAGMENT}", "what?", model="gpt4o")
    assert {e["event"] for e in logs} >= {"image.fetch_refused", "llm.call"}
    assert_no_secret(refused.value, logs)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bucket.test/a/b.png?X-Amz-Signature=abc", "https://bucket.test/a/b.png?\u2026"),
        ("https://bucket.test/a.png#token=abc", "https://bucket.test/a.png?\u2026"),
        ("https://bucket.test/a.png?", "https://bucket.test/a.png?\u2026"),
        ("https://u:pw@bucket.test:8443/a.png", "https://bucket.test:8443/a.png"),
        ("https://u:pw@bucket.test?sig=1@x", "https://bucket.test?\u2026"),
        ("http://[::1]:80/x.png", "http://[::1]:80/x.png"),
        ("http://[::1/x?sig=1", "http://[::1/x?\u2026"),  # does not parse: shown all the same
        ("no-scheme/x?token=1", "no-scheme/x?\u2026"),
    ],
)
def test_shown_url(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_shown_text_hides_every_url_in_a_message() -> None:
    text = "Request to 'https://a.test/x.png?sig=S1' failed, then http://u:p@b.test/y#t=S2 too"
    assert (
        shown_text(text) == "Request to 'https://a.test/x.png?\u2026' failed, then http://b.test/y?\u2026 too"
    )


# -- proxies from the environment -------------------------------------------------------------------
@pytest.fixture
def proxy() -> Iterator[list[bytes]]:
    """A loopback "proxy" that records the first bytes of every connection made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    contacts: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    contacts.append(connection.recv(200))
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    contacts.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    contacts.append(str(server.getsockname()[1]).encode())  # [0]: the port, for the test
    yield contacts
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_proxies_named_in_the_environment_are_never_used(
    fake: FakeProvider,
    driver: Driver,
    proxy: list[bytes],
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fake.serve("/a.png", png(), content_type="image/png")
    monkeypatch.setenv(variable, f"http://127.0.0.1:{int(proxy[0])}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fetched = driver(fetcher(), url)
    assert fetched.data == png()
    assert proxy[1:] == [], f"the proxy was contacted: {proxy[1:]}"
    assert fake.gets == ["/a.png"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_https_proxy_from_the_environment_is_never_used(
    fake: FakeProvider,
    driver: Driver,
    proxy: list[bytes],
    dns: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fake speaks plain http, so the TLS handshake fails: what matters is where it went."""
    dns["images.test"] = "127.0.0.1"
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{int(proxy[0])}")
    with pytest.raises(ImageFetchError, match="download failed"):
        driver(fetcher(), f"https://images.test:{fake.port}/a.png")
    assert proxy[1:] == [], f"the proxy was contacted: {proxy[1:]}"
