"""``cache.store: redis``: the response and image caches shared by every process, with the disk
cache's semantics (TTL, stats, clear, prune) and no pickle. Real redis-server, two processes."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from llmcfg import LLM, load_config
from llmcfg.cache.backends import open_caches
from llmcfg.cache.redis_store import RedisCaches
from llmcfg.cli.main import main
from llmcfg.config.load import parse_config
from llmcfg.exceptions import ConfigError
from llmcfg.testing import FakeProvider
from tests.redis_server import redis_server
from tests.test_fleet_cooldowns import run_worker

CONFIG = """
version: 1
providers:
  openai: {{api_base: "{base}", api_key: "${{CACHE_KEY:-cache-test}}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
cache: {{store: redis, redis_url: "{redis}", text: true, response_ttl_s: {ttl}}}
"""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def test_a_second_process_gets_a_hit_for_the_first_ones_call(
    write_config: Any, fake: FakeProvider, redis_url: str
) -> None:
    config = write_config(CONFIG.format(base=fake.base_url, redis=redis_url, ttl=600))
    fake.reply("forty-two", times=1)
    first = run_worker(config, "mini", 1, "the question")  # process A asks
    assert first == [{"text": "forty-two", "cached": False}]
    llm = LLM(load_config(config))  # process B asks the same
    hit = llm.chat("the question", model="mini")
    assert (hit.text, hit.cached, hit.cost_usd) == ("forty-two", True, 0.0)
    assert len(fake.requests) == 1
    assert llm.chat("another question", model="mini").cached is False
    stats = {s.name: s for s in llm.caches.stats()}
    assert (stats["responses"].entries, stats["responses"].hits) == (2, 1)
    assert stats["responses"].misses >= 2  # A's miss and B's second question, from both processes
    assert stats["responses"].bytes > 0


def test_ttl_prune_and_clear(redis_url: str) -> None:
    caches = RedisCaches(redis_url, image_ttl_s=0, response_ttl_s=1)
    caches.put_response("short", {"text": "soon gone"})
    caches.put_image("https://img.test/a.png", b"\x89PNG-bytes")  # ttl 0: kept until cleared
    assert caches.get_response("short") == {"text": "soon gone"}
    assert caches.get_image("https://img.test/a.png") == b"\x89PNG-bytes"
    time.sleep(1.6)
    assert caches.get_response("short") is None
    assert caches.prune() == 1  # the expired entry leaves the index
    assert caches.prune() == 0
    assert {s.name: s.entries for s in caches.stats()} == {"images": 1, "responses": 0}
    assert caches.clear() == 1
    assert caches.get_image("https://img.test/a.png") is None
    caches.close()


def test_a_planted_pickle_is_a_miss_never_unpickled(redis_url: str) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (pytest.fail, ("unpickled a planted value",))

    caches = RedisCaches(redis_url, image_ttl_s=60, response_ttl_s=60)
    caches.put_response("k", {"text": "real"})
    client = redis.Redis.from_url(redis_url)
    for key in client.keys("llmcfg:cache:responses:v:*"):
        client.set(key, pickle.dumps(Boom()))
    assert caches.get_response("k") is None
    caches.close()


def test_cli_cache_commands_use_redis(
    write_config: Any, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(CONFIG.format(base="http://127.0.0.1:9/v1", redis=redis_url, ttl=600))
    caches = open_caches(load_config(config))
    assert isinstance(caches, RedisCaches)
    caches.put_response("x", {"text": "y"})
    assert main(["cache", "stats", "--config", str(config)]) == 0
    assert "responses entries=1" in capsys.readouterr().out
    assert main(["cache", "clear", "--config", str(config)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out


def test_store_redis_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="store: redis needs redis_url"):
        parse_config("version: 1\ncache: {store: redis}\n", "x.yaml")
