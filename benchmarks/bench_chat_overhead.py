"""`LLM.chat` against a bare `litellm.Router.completion`, same fake provider, same process.

Both sides talk over real HTTP to llmcfg.testing.FakeProvider (TCP_NODELAY on). Calls alternate
between the two so machine noise hits both alike. Target: ratio ≤ 1.05 (median of many calls).
Also the chat cache-hit latency (cache=True, answered from diskcache). Target: under 2 ms median.
Run: python benchmarks/bench_chat_overhead.py [calls]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import structlog

import llmcfg
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
cache: {dir: cache}
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
router: {num_retries: 0}
"""


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # measure work, not terminal output
    with FakeProvider() as fake, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm_config.yaml"
        path.write_text(CONFIG)
        llm = llmcfg.LLM(use_fake(llmcfg.load_config(path), fake))
        import litellm

        bare = litellm.Router(
            model_list=[
                {
                    "model_name": "mini",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": fake.base_url,
                        "api_key": "bench",
                    },
                }
            ],
            num_retries=0,
        )
        messages = [{"role": "user", "content": "hello"}]
        for _ in range(30):  # warm both: connection pools, imports, caches
            llm.chat(messages=messages, model="mini")
            bare.completion(model="mini", messages=messages)
        ours, theirs = [], []
        for _ in range(calls):
            start = time.perf_counter()
            llm.chat(messages=messages, model="mini")
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            bare.completion(model="mini", messages=messages)
            theirs.append(time.perf_counter() - start)
        llm.chat(messages=messages, model="mini", cache=True)
        hits = []
        for _ in range(calls):
            start = time.perf_counter()
            llm.chat(messages=messages, model="mini", cache=True)
            hits.append(time.perf_counter() - start)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"llm.chat            median {a * 1000:.3f} ms over {calls} calls")
    print(f"Router.completion   median {b * 1000:.3f} ms over {calls} calls")
    print(f"ratio llmcfg/bare: {a / b:.3f} (target <= 1.05)")
    print(f"chat cache hit      median {statistics.median(hits) * 1000:.3f} ms (target < 2 ms)")


if __name__ == "__main__":
    main()
