"""A response-cache hit against a plain ``diskcache.Cache.get`` of the same value, same process.

Baseline: diskcache with its defaults (pickle, statistics off) holding the same response dict.
Measured: ``Caches.get_response`` (JSON bytes through llmcfg's pickle-free SafeDisk, no write on
read), and a whole ``llm.chat(cache=True)`` hit (validation, event, result) for reference.
Target (issue 15 #2): ``get_response`` <= 2x the baseline (median). Reads alternate so noise hits
both alike.
Run: python benchmarks/bench_cache_hit.py [reads]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import diskcache
import structlog

import llmcfg
from llmcfg.cache.store import Caches
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
cache: {dir: cache}
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
router: {num_retries: 0}
"""


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # measure work, not output
    with FakeProvider() as fake, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm_config.yaml"
        path.write_text(CONFIG)
        llm = llmcfg.LLM(use_fake(llmcfg.load_config(path), fake))
        messages = [{"role": "user", "content": "hello"}]
        first = llm.chat(messages=messages, model="mini", cache=True)
        value = first.model_dump(mode="json")
        caches = Caches(str(Path(folder) / "copy"), image_ttl_s=0, response_ttl_s=0)
        caches.put_response("key", value)
        plain = diskcache.Cache(str(Path(folder) / "plain"))
        plain.set("key", value)
        for _ in range(200):  # warm: connections, page cache
            plain.get("key")
            caches.get_response("key")
            llm.chat(messages=messages, model="mini", cache=True)
        base, ours, chat = [], [], []
        for _ in range(reads):
            start = time.perf_counter()
            plain.get("key")
            base.append(time.perf_counter() - start)
            start = time.perf_counter()
            caches.get_response("key")
            ours.append(time.perf_counter() - start)
        for _ in range(reads // 3):
            start = time.perf_counter()
            llm.chat(messages=messages, model="mini", cache=True)
            chat.append(time.perf_counter() - start)
        caches.close()
        plain.close()
    a, b, c = _median_us(base), _median_us(ours), _median_us(chat)
    print(f"diskcache.Cache.get      median {a:8.1f} us over {reads} reads (baseline)")
    print(f"Caches.get_response      median {b:8.1f} us")
    print(f"llm.chat cache hit       median {c:8.1f} us (whole call, for reference)")
    print(f"ratio get_response/diskcache.get: {b / a:.2f} (target <= 2)")
    print(f"ratio chat hit/diskcache.get:     {c / a:.2f}")


if __name__ == "__main__":
    main()
