"""The network guard: no connection beyond loopback and no real DNS lookup, ever, from the test
process or any Python process a test starts. Installed at import by conftest, before any test or
thread starts, so even wrong code under test cannot send a packet out; conftest also puts
``tests/netguard_site`` first on PYTHONPATH, whose ``sitecustomize`` installs the same guard in every
Python subprocess (CLI runs, ``python -c`` checks, pytester), and each refusal there is appended to
the file named by ``$LLMCFG_NETGUARD_LOG`` so the test that started the child fails too (a child
may swallow the exception)."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

__all__ = ["FAKE_DNS", "HIDE_VARIABLE", "LOG_VARIABLE", "NetworkGuardError", "blocked_connections", "install"]

LOG_VARIABLE = "LLMCFG_NETGUARD_LOG"
HIDE_VARIABLE = "LLMCFG_NETGUARD_HIDE"  # modules a child must see as missing (tests/guarded.py)

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
    _blocked(address)
    raise NetworkGuardError(f"test tried to connect to {address!r}: only loopback is allowed")


def _blocked(attempt: Any) -> None:
    blocked_connections.append(attempt)
    if _log:
        with open(_log, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()} {attempt!r}\n")


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
    _blocked(("dns", name))
    raise socket.gaierror(socket.EAI_NONAME, f"test guard: no real DNS lookups ({name})")


def _is_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


_log: str | None = None  # where a subprocess reports its refusals to the test that started it


def install(*, log: str | None = None) -> None:
    """Guard this process. Refusals are also appended to ``log``, by default ``$LLMCFG_NETGUARD_LOG``
    (set for children by the test session): a child that installs the guard again itself (the
    Django recipe's conftest does) keeps reporting to the session's log."""
    global _log
    _log = log if log is not None else os.environ.get(LOG_VARIABLE)
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
