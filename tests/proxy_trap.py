"""The network guard's second net, for native code. ``tests/netguard.py`` guards Python's sockets; a
C library that opens its own (libcurl inside onnxruntime, whose telemetry once reached a test's proxy)
is invisible to it. Most such libraries honour the proxy variables, so the test session points every
one of them at this loopback listener (loopback itself excepted through ``NO_PROXY``): what would have
left the machine arrives here instead, is refused, and fails the test that is running when it lands
(it may come from an earlier test's background thread: the message says so)."""

from __future__ import annotations

import os
import socket
import threading

__all__ = ["PROXY_VARIABLES", "ProxyTrap"]

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
LOOPBACK = "127.0.0.1,localhost,::1"


class ProxyTrap:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, name="proxy-trap", daemon=True).start()

    def install(self) -> None:
        """Point this process's proxy variables (and so its children's) at the trap."""
        for name in PROXY_VARIABLES:
            os.environ[name] = self.url
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = LOOPBACK

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(300))
                except OSError as error:
                    self.received.append(repr(error).encode())
