"""The network guard: no connection beyond loopback and no real DNS lookup, ever, from the test
process. Installed at import by conftest (and by the subprocess runs of the docs' examples), before
any test or thread starts, so even wrong code under test cannot send a packet out."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

__all__ = ["FAKE_DNS", "NetworkGuardError", "blocked_connections", "install"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
blocked_connections: list[Any] = []


class NetworkGuardError(AssertionError):
    """A test tried to reach beyond loopback."""


def _check(address: Any) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return
    host = address[0]
    try:
        if ipaddress.ip_address(host.split("%")[0]).is_loopback:
            return
    except ValueError:
        pass
    blocked_connections.append(address)
    raise NetworkGuardError(f"test tried to connect to {address!r}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


_real_getaddrinfo = socket.getaddrinfo
FAKE_DNS: dict[str, str] = {}  # hostname -> address, filled by the `dns` fixture


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    """Names resolve only from FAKE_DNS (or are loopback/literal): a real lookup is traffic too."""
    name = host.decode() if isinstance(host, bytes) else host
    if name in FAKE_DNS:
        return _real_getaddrinfo(FAKE_DNS[name], port, *args, **kwargs)
    if name is None or name in ("localhost", "") or _is_literal(name):
        return _real_getaddrinfo(host, port, *args, **kwargs)
    blocked_connections.append(("dns", name))
    raise socket.gaierror(socket.EAI_NONAME, f"test guard: no real DNS lookups ({name})")


def _is_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def install() -> None:
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
