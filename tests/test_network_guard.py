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


CHILD = """
import socket, sys
try:
    socket.socket().connect(("192.0.2.1", 80))  # TEST-NET-1
except AssertionError as error:  # the guard's NetworkGuardError
    print(type(error).__name__)
try:
    socket.getaddrinfo("example.com", 443)
except socket.gaierror as error:
    print("dns", error)
try:
    socket.create_connection(("8.8.8.8", 53), timeout=5)
except AssertionError as error:
    print(type(error).__name__)
"""


def test_python_subprocesses_get_the_guard_too() -> None:
    """Children inherit the guard (sitecustomize on PYTHONPATH) and report what they tried."""
    import subprocess
    import sys

    from tests.conftest import CHILD_LOG, child_refusals

    before = child_refusals()
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "NetworkGuardError"  # refused before connect() ran
    assert "test guard: no real DNS lookups (example.com)" in done.stdout
    assert done.stdout.splitlines()[-1] == "NetworkGuardError"
    tried = child_refusals()[len(before) :]
    assert [line.split(" ", 1)[1] for line in tried] == [
        "('192.0.2.1', 80)",
        "('dns', 'example.com')",
        "('8.8.8.8', 53)",
    ]
    with open(CHILD_LOG, "w", encoding="utf-8") as log:  # expected refusals: not a leak of this test
        log.write("".join(f"{line}\n" for line in before))


def test_a_child_that_installs_the_guard_again_still_reports_to_the_session_log() -> None:
    """The Django and FastAPI recipes' conftest call ``install()`` themselves: that must not turn
    the child's log off (it did: ``install()`` set the log to None)."""
    import subprocess
    import sys

    from tests.conftest import child_refusals, expected_child_refusals
    from tests.guarded import ROOT

    code = (
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.netguard import install\ninstall()\n"
        "import socket\ntry:\n    socket.socket().connect(('203.0.113.9', 443))\nexcept AssertionError:\n    pass\n"
    )
    before = child_refusals()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    tried = expected_child_refusals(before)
    assert done.returncode == 0, done.stderr
    assert [line.split(" ", 1)[1] for line in tried] == ["('203.0.113.9', 443)"]


def test_the_cli_runs_under_the_guard(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The `llmcfg` console entry point in a child process has the guard installed."""
    import subprocess
    import sys

    code = "import socket, llmcfg.cli.main\nprint(socket.socket.connect.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "_guarded_connect", done.stderr


def test_a_client_that_follows_the_proxy_variables_lands_in_the_trap() -> None:
    """Native code (libcurl) is outside the socket guard; what honours the proxy variables, in this
    process or a child, reaches the session's loopback trap instead. A child's urllib stands in
    for it here."""
    import subprocess
    import sys
    import time

    from tests.conftest import PROXY_TRAP

    before = len(PROXY_TRAP.received)
    code = "import urllib.request\ntry:\n    urllib.request.urlopen('http://example.test/x', timeout=5)\nexcept OSError:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], timeout=60, check=True)
    deadline = time.monotonic() + 5
    while len(PROXY_TRAP.received) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert PROXY_TRAP.received[before:]
    assert PROXY_TRAP.received[before].startswith(b"GET http://example.test/x")
    del PROXY_TRAP.received[before:]  # provoked here: not a leak for the autouse check


# The per-test check itself (conftest's autouse ``_no_leaks``): an inner session that uses it, run in
# this process (the same guard, trap and lists; nothing leaves loopback), must fail the test during
# which something tried a way out -- and only that one. Without these, deleting one of its asserts
# would leave the suite green: the tests above read the lists and the trap directly.
INNER_CONFTEST = "from tests.conftest import _no_leaks  # noqa: F401\n"

INNER_TESTS = """
import socket
import subprocess
import sys
import urllib.request


def test_quiet_before():
    pass


def test_asks_the_proxy_variables_for_a_way_out():
    opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # reads the variables now
    try:
        opener.open("http://leak.example.test/telemetry", timeout=5)  # the trap answers by closing
    except OSError:
        pass


def test_connects_beyond_loopback():
    try:
        socket.socket().connect(("192.0.2.7", 80))  # TEST-NET-1, refused before any packet
    except AssertionError:  # the guard's NetworkGuardError, swallowed as careless code would
        pass


def test_a_child_connects_beyond_loopback():
    code = "import socket\\ntry:\\n    socket.socket().connect(('192.0.2.8', 80))\\nexcept AssertionError:\\n    pass\\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_quiet_after():
    pass
"""


def test_the_autouse_check_fails_exactly_the_test_that_leaked(pytester: pytest.Pytester) -> None:
    from tests.conftest import PROXY_TRAP, child_refusals, expected_child_refusals

    trapped, blocked, children = len(PROXY_TRAP.received), len(blocked_connections), child_refusals()
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TESTS)
    options = [
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    ]
    result = pytester.runpytest_inprocess(*options)
    proxied, refused = PROXY_TRAP.received[trapped:], blocked_connections[blocked:]
    in_child = expected_child_refusals(children)
    del PROXY_TRAP.received[trapped:], blocked_connections[blocked:]  # provoked here: not this test's leaks
    assert [request.split(b"\r\n")[0] for request in proxied] == [
        b"GET http://leak.example.test/telemetry HTTP/1.1"
    ]
    assert refused == [("192.0.2.7", 80)]
    assert [line.split(" ", 1)[1] for line in in_child] == ["('192.0.2.8', 80)"]
    outcomes = {
        (report.nodeid.split("::")[-1], report.when): (report.outcome, str(report.longrepr or ""))
        for report in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        if report.outcome != "passed"
    }
    assert sorted(outcomes) == [  # each leaker passes its call and fails at teardown; the quiet ones pass
        ("test_a_child_connects_beyond_loopback", "teardown"),
        ("test_asks_the_proxy_variables_for_a_way_out", "teardown"),
        ("test_connects_beyond_loopback", "teardown"),
    ]
    said = {name: message for (name, _), (_, message) in outcomes.items()}
    assert (
        "asked the proxy variables for a way out: [b'GET http://leak.example.test/telemetry"
        in (said["test_asks_the_proxy_variables_for_a_way_out"])
    )
    assert "blocked connections: [('192.0.2.7', 80)]" in said["test_connects_beyond_loopback"]
    assert 'blocked in a subprocess: ["' in said["test_a_child_connects_beyond_loopback"]
    assert "('192.0.2.8', 80)" in said["test_a_child_connects_beyond_loopback"]
    result.assert_outcomes(passed=5, errors=3)
