"""HTTPS through the pinned address: the fetcher connects to the IP it checked, yet TLS still sends
the hostname (SNI) and verifies the certificate against it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from llmcfg import ImageFetchError
from llmcfg.images.fetch import ImageFetcher
from tests.fetching import DRIVERS, Driver
from tests.images import png

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is needed to make a test certificate"
)


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


SEEN_SNI: list[str | None] = []
SERVER_ERRORS: list[BaseException | None] = []


class _Server(ThreadingHTTPServer):
    """Keeps what failed in a handler (socketserver prints it to stderr): the test that makes a
    handshake fail on purpose checks it, and any other fails the test at teardown."""

    def handle_error(self, request: object, client_address: object) -> None:
        SERVER_ERRORS.append(sys.exc_info()[1])


class _Image(BaseHTTPRequestHandler):
    body = png()
    timeout = 5  # seconds a connection may stay silent (handshake included)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names images.test only."""
    cert, key = certificate(tmp_path, "images.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: SEEN_SNI.append(name)  # type: ignore[assignment,misc]
    SERVER_ERRORS.clear()
    server = _Server(("127.0.0.1", 0), _Image)
    # the handshake in the handler's thread, not in accept(): a client that never finishes one
    # must not block the server (its later tests and its shutdown)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()
    assert SERVER_ERRORS == []


def fetcher_trusting(cert: Path) -> ImageFetcher:
    trust = ssl.create_default_context(cafile=str(cert))
    return ImageFetcher(
        allowed_domains=["images.test"],
        allow_private_networks=["127.0.0.1/32"],
        transport=httpx.HTTPTransport(verify=trust),
    )


def test_https_goes_to_the_checked_address_with_sni_and_verification(
    https_server: tuple[int, Path], dns: dict[str, str]
) -> None:
    port, cert = https_server
    dns["images.test"] = "127.0.0.1"
    SEEN_SNI.clear()
    fetched = fetcher_trusting(cert).fetch(f"https://images.test:{port}/a.png")
    assert fetched.content_type == "image/png"
    assert SEEN_SNI == ["images.test"]


def test_a_certificate_for_another_name_is_refused(
    https_server: tuple[int, Path], dns: dict[str, str], tmp_path: Path
) -> None:
    port, cert = https_server
    dns["other.test"] = "127.0.0.1"
    policy = fetcher_trusting(cert)
    policy.allowed_domains = ["other.test"]
    with pytest.raises(ImageFetchError, match="download failed"):
        policy.fetch(f"https://other.test:{port}/a.png")  # the server's certificate names images.test
    deadline = time.monotonic() + 5  # the server learns it in its handler's thread, a moment later
    while not SERVER_ERRORS and time.monotonic() < deadline:
        time.sleep(0.01)
    # the client refused the certificate during the handshake and told the server so
    assert [getattr(error, "reason", error) for error in SERVER_ERRORS] == ["SSLV3_ALERT_BAD_CERTIFICATE"]
    SERVER_ERRORS.clear()


@pytest.mark.parametrize("driver", DRIVERS)
def test_https_through_the_fetchers_own_transport(
    https_server: tuple[int, Path], dns: dict[str, str], monkeypatch: pytest.MonkeyPatch, driver: Driver
) -> None:
    """No test transport: the fetcher's own (the synchronous one wraps every connection to cut its
    waits at the deadline, TLS included), trusting the test certificate the standard way."""
    port, cert = https_server
    dns["images.test"] = "127.0.0.1"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    SEEN_SNI.clear()
    policy = ImageFetcher(allowed_domains=["images.test"], allow_private_networks=["127.0.0.1/32"])
    fetched = driver(policy, f"https://images.test:{port}/a.png")
    assert (fetched.data, fetched.content_type) == (_Image.body, "image/png")
    assert SEEN_SNI == ["images.test"]
