"""The offline OCR engine stays offline. onnxruntime (1.32 on Linux) sends usage telemetry to
mobile.events.data.microsoft.com through libcurl, from its import on, every few seconds: native code
that the tests' Python network guard cannot see. llmcfg sets ``ORT_DISABLE_TELEMETRY=1`` at import
unless the user chose otherwise. Each child here points every proxy variable at its own loopback
recorder (libcurl honours them), so whatever it tries to send arrives there and nowhere else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from llmcfg.ocr.engine import available

pytestmark = pytest.mark.skipif(
    not available(), reason="the ocr-local extra is not installed: pip install 'llmcfg[ocr-local]'"
)

# onnxruntime imported after llmcfg, by llmcfg's engine or by anything else in the application (the
# import alone starts the uploads; a session made at log level "error", as the engine makes its own,
# sent nothing in a 30 s run, but nothing promises that), kept alive until the test closes stdin.
CHILD = "import sys\nimport llmcfg\nimport onnxruntime\nsys.stdin.read()\n"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@contextmanager
def recorder() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback listener that keeps the first bytes of every connection (a proxy's CONNECT line)."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    received.append(connection.recv(200))
                except OSError as error:
                    received.append(repr(error).encode())

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], received
    finally:
        listener.close()


@contextmanager
def onnxruntime_process(port: int, **variables: str) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_PROXY", "no_proxy", "ORT_DISABLE_TELEMETRY")}
    env.update(dict.fromkeys(PROXY_VARIABLES, f"http://127.0.0.1:{port}"), **variables)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, env=env)
    try:
        yield
    finally:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=60) == 0


def test_the_engine_sends_no_telemetry_and_the_users_choice_wins() -> None:
    with recorder() as (quiet_port, quiet), recorder() as (control_port, control):
        with onnxruntime_process(quiet_port), onnxruntime_process(control_port, ORT_DISABLE_TELEMETRY="0"):
            deadline = time.monotonic() + 60
            while not control and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # the default child had as long, and a little more
        if not control:
            pytest.skip("this onnxruntime sent no telemetry in 60 s even when allowed: nothing to check")
        assert b"events.data.microsoft.com" in control[0]  # the recorder does see it when allowed
        assert quiet == [], f"onnxruntime under llmcfg tried to reach: {quiet}"


@pytest.mark.parametrize(("users", "seen"), [(None, "1"), ("0", "0"), ("1", "1")])
def test_import_llmcfg_sets_the_default_and_keeps_the_users_value(users: str | None, seen: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    if users is not None:
        env["ORT_DISABLE_TELEMETRY"] = users
    code = "import os, llmcfg\nprint(os.environ['ORT_DISABLE_TELEMETRY'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == seen, done.stderr
