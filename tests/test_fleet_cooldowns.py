"""Cooldowns shared by the fleet: with ``router.redis_url`` a key cooled down after 429s in one
process is skipped by every process. Real redis-server, two processes, the FakeProvider."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider
from tests.redis_server import redis_server

ROOT = Path(__file__).resolve().parent.parent

POOL = """
version: 1
providers:
  pool: {{kind: openai, api_base: "{base}", api_key: ["${{FLEET_KEY_1:-pool-one}}", "${{FLEET_KEY_2:-pool-two}}"]}}
models:
  pooled: {{model: pool/gpt-4o-mini}}
router: {{num_retries: 2, timeout_s: 10, cooldown_s: 60, allowed_fails: 0{redis}}}
"""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def run_worker(config: Path, alias: str, calls: int, *extra: str) -> list[dict[str, Any]]:
    """Another process: a fresh interpreter with its own LLM and Router."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.fleet_worker", str(config), alias, str(calls), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def key_one_requests(fake: FakeProvider) -> int:
    return sum(1 for request in fake.requests if request.api_key == "pool-one")


def test_a_key_cooled_down_in_one_process_is_skipped_by_another(
    write_config: Any, fake: FakeProvider, redis_url: str
) -> None:
    config = write_config(POOL.format(base=fake.base_url, redis=f", redis_url: '{redis_url}'"))
    fake.fail(429, api_key="pool-one", retry_after=60, times=None)
    # process A; the Router picks a key at random: 6 calls missed key one once in 64 runs, 30 in 2**30
    outcomes = run_worker(config, "pooled", 30)
    assert all(outcome.get("text") == "ok" for outcome in outcomes), outcomes  # key two answered
    assert key_one_requests(fake) >= 1  # A did meet the 429
    before = key_one_requests(fake)
    llm = LLM(load_config(config))  # process B (this one), its own Router
    for _ in range(12):
        assert llm.chat("hi", model="pooled").text == "ok"
    assert key_one_requests(fake) == before  # B never touched key one
    assert fake.requests[-1].api_key == "pool-two"


def test_without_redis_each_router_learns_the_cooldown_itself(write_config: Any, fake: FakeProvider) -> None:
    """The control: without ``redis_url`` a second Router (here in this process: it shares no more
    than another process would) still sends calls to key one."""
    config = load_config(write_config(POOL.format(base=fake.base_url, redis="")))
    fake.fail(429, api_key="pool-one", retry_after=60, times=None)
    first = LLM(config)
    for _ in range(30):  # until it meets key one's 429 (the Router picks a key at random)
        assert first.chat("hi", model="pooled").text == "ok"
        if key_one_requests(fake):
            break
    before = key_one_requests(fake)
    assert before >= 1
    llm = LLM(config)
    for _ in range(30):  # 12 calls missed key one once in 4096 runs
        assert llm.chat("hi", model="pooled").text == "ok"
        if key_one_requests(fake) > before:
            break
    assert key_one_requests(fake) > before


def test_redis_url_from_the_environment_and_never_in_errors(
    write_config: Any, fake: FakeProvider, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = redis_url.replace("redis://", "redis://:hunter2-redis-pass@")
    monkeypatch.setenv("FLEET_REDIS_URL", secret)
    config = load_config(
        write_config(POOL.format(base=fake.base_url, redis=", redis_url: '${FLEET_REDIS_URL}'"))
    )
    llm = LLM(config)
    assert llm._runtime.router_arguments()["redis_url"] == secret
    assert secret in llm._runtime.secrets()
    monkeypatch.delenv("FLEET_REDIS_URL")
    from llmcfg.exceptions import CredentialError

    with pytest.raises(CredentialError, match="FLEET_REDIS_URL"):
        LLM(config)._runtime.router_arguments()
