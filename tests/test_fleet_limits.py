"""Rate limits with back-pressure: a call over ``rpm``/``tpm``/``max_parallel`` waits for room up to
``router.queue_timeout_s``, then raises RateLimitError with ``retry_after``; with
``router.redis_url`` the windows are shared by every process (real redis-server, two processes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.config.load import parse_config
from llmcfg.exceptions import RateLimitError
from llmcfg.routing.gated import alias_limits
from llmcfg.routing.limits import Limits, LimitStore, LocalLimitStore, RedisLimitStore
from llmcfg.testing import FakeProvider, use_fake
from tests.redis_server import redis_server
from tests.test_fleet_cooldowns import ROOT, run_worker

CONFIG = """
version: 1
providers:
  pool: {{kind: openai, api_base: "{base}", api_key: ["${{LIMIT_KEY_1:-pool-one}}", "${{LIMIT_KEY_2:-pool-two}}"]{key_limits}}}
models:
  limited: {{model: pool/gpt-4o-mini{limits}}}
  free: {{model: pool/gpt-4o}}
router: {{num_retries: 0, timeout_s: 20, queue_timeout_s: {queue}{redis}}}
"""


def config_text(
    base: str, *, limits: str = "", key_limits: str = "", queue: float = 10, redis: str = ""
) -> str:
    return CONFIG.format(
        base=base,
        limits=f", limits: {limits}" if limits else "",
        key_limits=f", key_limits: {key_limits}" if key_limits else "",
        queue=queue,
        redis=f", redis_url: '{redis}'" if redis else "",
    )


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def test_effective_limits_are_the_lower_of_the_alias_and_the_keys_times_the_pool() -> None:
    config = parse_config(
        config_text(
            "http://127.0.0.1:9/v1", limits="{rpm: 100, max_parallel: 3}", key_limits="{rpm: 20, tpm: 1000}"
        )
    )
    assert alias_limits(config) == {
        "limited": Limits(rpm=40, tpm=2000, max_parallel=3),
        "free": Limits(rpm=40, tpm=2000, max_parallel=None),
    }


def test_over_the_rpm_a_call_fails_with_retry_after_when_it_may_not_wait(
    write_config: Any, fake: FakeProvider
) -> None:
    llm = LLM(load_config(write_config(config_text(fake.base_url, limits="{rpm: 2}", queue=0))))
    assert llm.chat("one", model="limited").text == "ok"
    assert llm.chat("two", model="limited").text == "ok"
    with pytest.raises(RateLimitError, match=r"alias 'limited' is over its limits \(rpm=2\)") as caught:
        llm.chat("three", model="limited")
    assert caught.value.retry_after is not None
    assert 50 < caught.value.retry_after <= 60
    assert len(fake.requests) == 2  # never sent
    assert llm.chat("other alias", model="free").text == "ok"  # limits are per alias


async def test_over_max_parallel_a_call_waits_for_a_slot_instead_of_failing(
    write_config: Any, fake: FakeProvider
) -> None:
    llm = LLM(load_config(write_config(config_text(fake.base_url, limits="{max_parallel: 1}"))))
    fake.delay(0.6, times=1)
    started = time.perf_counter()
    first, second = await asyncio.gather(llm.achat("a", model="limited"), llm.achat("b", model="limited"))
    assert (first.text, second.text) == ("ok", "ok")
    assert time.perf_counter() - started >= 0.6
    assert max(first.latency_ms, second.latency_ms) >= 600  # the second waited for the first


def test_the_token_window_counts_real_usage(write_config: Any, fake: FakeProvider) -> None:
    llm = LLM(load_config(write_config(config_text(fake.base_url, limits="{tpm: 100}", queue=0))))
    fake.reply("big", tokens_in=80, tokens_out=15, times=1)
    assert llm.chat("x", model="limited").text == "big"  # 95 tokens counted, not the small estimate
    with pytest.raises(RateLimitError, match="tpm=100"):
        llm.chat("y" * 60, model="limited")


def test_rpm_is_shared_by_two_processes_through_redis(
    write_config: Any, fake: FakeProvider, redis_url: str
) -> None:
    config = write_config(config_text(fake.base_url, limits="{rpm: 3}", queue=0, redis=redis_url))
    outcomes = run_worker(config, "limited", 2)  # process A uses two of the three
    assert [o.get("text") for o in outcomes] == ["ok", "ok"]
    llm = LLM(load_config(config))  # process B
    assert llm.chat("third", model="limited").text == "ok"
    with pytest.raises(RateLimitError) as caught:
        llm.chat("fourth", model="limited")
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60
    assert len(fake.requests) == 3


def test_a_call_waits_for_a_slot_held_by_another_process(
    write_config: Any, fake: FakeProvider, redis_url: str
) -> None:
    config = write_config(config_text(fake.base_url, limits="{max_parallel: 1}", queue=60, redis=redis_url))
    fake.delay(4.0, times=1)
    process_a = subprocess.Popen(
        [sys.executable, "-m", "tests.fleet_worker", str(config), "limited", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while not fake.requests:  # A's call is at the provider, holding the only slot
            assert process_a.poll() is None, "process A ended before calling"
            assert time.monotonic() < deadline, "process A never called"
            time.sleep(0.05)
        held_since = time.monotonic()
        llm = LLM(load_config(config))  # process B
        result = llm.chat("b", model="limited")
        assert result.text == "ok"
        out, err = process_a.communicate(timeout=150)
        assert '"text": "ok"' in out, err[-2000:]
        assert time.monotonic() - held_since >= 3.0  # B waited for A's slot rather than failing
        assert len(fake.requests) == 2
    finally:
        if process_a.poll() is None:
            process_a.kill()


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LimitStore]:
    if request.param == "local":
        yield LocalLimitStore()
        return
    with redis_server(tmp_path) as url:
        redis_store = RedisLimitStore(url)
        yield redis_store
        redis_store.close()


def test_both_stores_count_the_same_way(store: LimitStore) -> None:
    """The Lua script and the in-process store agree: rpm, tpm corrected to real use, leases."""
    rpm = Limits(rpm=2)
    assert store.try_acquire("a", rpm, "1", 1, 60) == 0
    assert store.try_acquire("a", rpm, "2", 1, 60) == 0
    assert 59 < store.try_acquire("a", rpm, "3", 1, 60) <= 60
    tpm = Limits(tpm=100)
    assert store.try_acquire("t", tpm, "1", 10, 60) == 0
    store.release("t", tpm, "1", 10, 95)  # the provider counted 95
    assert store.try_acquire("t", tpm, "2", 10, 60) > 0  # 95 + 10 > 100
    assert store.try_acquire("t", tpm, "3", 5, 60) == 0  # 95 + 5 fits
    parallel = Limits(max_parallel=1)
    assert store.try_acquire("p", parallel, "1", 1, 60) == 0
    assert store.try_acquire("p", parallel, "2", 1, 60) > 0
    store.release("p", parallel, "1", 1, None)
    assert store.try_acquire("p", parallel, "2", 1, 60) == 0
    assert store.try_acquire("x", Limits(max_parallel=1), "1", 1, 0.2) == 0
    time.sleep(0.3)  # a lease left by a dead process expires on its own
    assert store.try_acquire("x", Limits(max_parallel=1), "2", 1, 60) == 0


def test_use_fake_keeps_the_key_limits(fake: FakeProvider) -> None:
    config = parse_config(config_text("http://127.0.0.1:9/v1", key_limits="{rpm: 20, max_parallel: 2}"))
    assert alias_limits(use_fake(config, fake)) == alias_limits(config)
