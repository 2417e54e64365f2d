"""The guard itself must work, or every refusal test could pass while packets leave the machine."""

import socket

import pytest

from tests.conftest import NetworkGuardError, blocked_connections


def test_connecting_beyond_loopback_is_refused_before_any_packet() -> None:
    before = len(blocked_connections)
    with socket.socket() as sock, pytest.raises(NetworkGuardError):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and never tried
    assert len(blocked_connections) == before + 1
    del blocked_connections[before:]


def test_loopback_is_allowed(fake) -> None:  # type: ignore[no-untyped-def]
    with socket.create_connection(("127.0.0.1", fake.port), timeout=2):
        pass
