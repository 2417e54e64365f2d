"""Shared fixtures. The network guard is installed at import, before any test or thread runs:
no test can open a connection beyond loopback, even when the code under test is wrong. Python
subprocesses started by tests inherit it (tests/netguard_site on PYTHONPATH) and report refusals
to a log file that every test checks. Native code that honours the proxy variables is sent to a
loopback trap (tests/proxy_trap.py) that every test checks too."""

from __future__ import annotations

import atexit
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake
from tests.guarded import SITE
from tests.netguard import FAKE_DNS, LOG_VARIABLE, NetworkGuardError, blocked_connections, install
from tests.proxy_trap import ProxyTrap

__all__ = [
    "CHILD_LOG",
    "FAKE_DNS",
    "NetworkGuardError",
    "blocked_connections",
    "child_refusals",
    "expected_child_refusals",
]

install()
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))
_log_fd, CHILD_LOG = tempfile.mkstemp(prefix="llmcfg-netguard-", suffix=".log")
os.close(_log_fd)
atexit.register(lambda: Path(CHILD_LOG).unlink(missing_ok=True))
os.environ[LOG_VARIABLE] = CHILD_LOG
PROXY_TRAP = ProxyTrap()
PROXY_TRAP.install()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the README's and CI's test command): two workers per core, at most 8. About half
    of a worker's time is spent waiting -- on the CLI and fleet subprocesses it started, on servers
    that stall on purpose, on back-pressure -- so one worker per core leaves the cores idle half of
    the time (2 cores: 4 workers ~2.5 min, 2 workers ~3.5 min, one process ~5 min)."""
    return min(8, 2 * (os.cpu_count() or 1))


def child_refusals() -> list[str]:
    """Connections and lookups refused in subprocesses so far this session, one line each."""
    return Path(CHILD_LOG).read_text(encoding="utf-8").splitlines()


def expected_child_refusals(before: list[str]) -> list[str]:
    """The refusals logged by children since ``before`` was read, taken off the log: a test that
    provokes them on purpose checks them itself, and the autouse fixture must not count them."""
    tried = child_refusals()[len(before) :]
    Path(CHILD_LOG).write_text("".join(f"{line}\n" for line in before), encoding="utf-8")
    return tried


@pytest.fixture(autouse=True)
def _no_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no provider keys set and fails if anything tried the network."""
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "LLMCFG_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    before, children, trapped = len(blocked_connections), len(child_refusals()), len(PROXY_TRAP.received)
    yield
    structlog.reset_defaults()  # the CLI configures structlog for its process; tests share one
    assert len(blocked_connections) == before, f"blocked connections: {blocked_connections[before:]}"
    assert len(child_refusals()) == children, f"blocked in a subprocess: {child_refusals()[children:]}"
    assert len(PROXY_TRAP.received) == trapped, (
        "something (native code, this test's or a background thread of an earlier one) asked the "
        f"proxy variables for a way out: {PROXY_TRAP.received[trapped:]}"
    )


@pytest.fixture
def dns() -> Iterator[dict[str, str]]:
    """Fake name resolution for test hostnames: ``dns["images.test"] = "127.0.0.1"``."""
    FAKE_DNS.clear()
    yield FAKE_DNS
    FAKE_DNS.clear()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


BASIC = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  openrouter: {api_key: "os.environ/OPENROUTER_API_KEY"}
  local: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${LOCAL_KEY:-none}"}
  pool: {kind: openai, api_key: ["${POOL_KEY_1}", "${POOL_KEY_2}"]}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o, params: {temperature: 0.2}}
  llama-vision: {model: openrouter/meta-llama/llama-3.2-11b-vision-instruct, vision: true}
  house: {model: local/my-model, price: {input_per_mtok: 0.5, output_per_mtok: 1.5}}
  pooled: {model: pool/gpt-4o-mini}
presets:
  text: {fast: mini, balanced: mini, best: gpt4o}
  vision: {fast: mini, balanced: llama-vision, best: gpt4o}
fallbacks:
  gpt4o: [llama-vision, mini]
router: {num_retries: 0, timeout_s: 5, cooldown_s: 1, allowed_fails: 100}
logging: {cost_log: costs.jsonl}
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "llm_config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def llm(write_config: Callable[[str], Path], fake: FakeProvider) -> LLM:
    """An LLM on BASIC, every provider pointed at the fake (keys default to fake-<VAR>)."""
    return LLM(use_fake(load_config(write_config(BASIC)), fake))


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """The llm.call events emitted during the test (structlog's own capture helper)."""
    with structlog.testing.capture_logs() as captured:
        yield captured  # type: ignore[misc]
