"""Per-call overhead of the fleet features: the Redis rate limiter and the Redis cache.

Same fake provider, same process, one run; calls alternate so machine noise hits every side alike.
- limiter: `LLM.chat` on an alias with `limits` and `router.redis_url` (one Lua script before the
  call, one after) against the same alias without limits. Target: overhead <= 2 ms per call
  (the ratio is large only because the fake answers in a few ms; a real provider takes hundreds).
- cache: a chat cache hit from `cache.store: redis` against a hit from the disk cache.
Needs redis-server on PATH (started on a free loopback port). Run:
python benchmarks/bench_fleet_overhead.py [calls]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog
from tests.redis_server import redis_server

import llmcfg
from llmcfg.testing import FakeProvider

CONFIG = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY:-bench}}", api_base: "{base}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
  limited: {{model: openai/gpt-4o-mini, limits: {{rpm: 10000000, tpm: 1000000000, max_parallel: 1000}}}}
router: {{num_retries: 0, redis_url: "{redis}"}}
cache: {{store: {store}, redis_url: "{redis}", dir: cache}}
"""


def timed(call: object, samples: list[float]) -> None:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    samples.append(time.perf_counter() - start)


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # measure work, not output
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as url, FakeProvider() as fake:
        llms = {}
        for store in ("disk", "redis"):
            path = Path(folder) / f"{store}.yaml"
            path.write_text(CONFIG.format(base=fake.base_url, redis=url, store=store))
            llms[store] = llmcfg.LLM(llmcfg.load_config(path))
        llm = llms["disk"]
        messages = [{"role": "user", "content": "hello"}]
        for _ in range(30):  # warm: connection pools, imports, scripts loaded in Redis
            llm.chat(messages=messages, model="mini")
            llm.chat(messages=messages, model="limited")
            for each in llms.values():
                each.chat(messages=messages, model="mini", cache=True)
        plain: list[float] = []
        gated: list[float] = []
        disk_hit: list[float] = []
        redis_hit: list[float] = []
        for _ in range(calls):
            timed(lambda: llm.chat(messages=messages, model="mini"), plain)
            timed(lambda: llm.chat(messages=messages, model="limited"), gated)
            timed(lambda: llms["disk"].chat(messages=messages, model="mini", cache=True), disk_hit)
            timed(lambda: llms["redis"].chat(messages=messages, model="mini", cache=True), redis_hit)
    a, b = statistics.median(gated), statistics.median(plain)
    c, d = statistics.median(redis_hit), statistics.median(disk_hit)
    print(f"chat, Redis rate limiter   median {a * 1000:.3f} ms over {calls} calls")
    print(f"chat, no limits            median {b * 1000:.3f} ms")
    print(f"ratio limiter/none: {a / b:.3f}; overhead {(a - b) * 1000:.3f} ms per call (target <= 2 ms)")
    print(f"cache hit, Redis           median {c * 1000:.3f} ms")
    print(f"cache hit, disk            median {d * 1000:.3f} ms")
    print(f"ratio redis/disk hit: {c / d:.3f}")


if __name__ == "__main__":
    main()
