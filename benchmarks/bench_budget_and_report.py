"""Budget checks and the cost report, measured against baselines in one run.

1. Added latency of budget checks per call on the local store: `LLM.chat` with a daily limit
   against the same call without budgets, alternating, median of many. Target: under 1 ms.
   Also the store's reserve + settle alone.
2. `llmcfg costs` on a generated 1,000,000-line log: seconds, and peak traced memory against a
   100,000-line log (flat memory means the two peaks are alike).
Run: python benchmarks/bench_budget_and_report.py [calls]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import structlog

import llmcfg
from llmcfg.money.report import report_file
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
router: {num_retries: 0}
cache: {dir: cache}
"""


def _serve(urls: multiprocessing.Queue, stop: Any) -> None:  # type: ignore[type-arg]
    with FakeProvider() as fake:
        urls.put(fake.base_url)
        stop.wait()


def bench_budget(calls: int) -> None:
    """The fake runs in its own process, as a real provider would. Measured twice: with no cost log,
    and with the JSONL cost log on both sides (as the shipped config has it). LiteLLM hands each
    sync call's logging to a background thread, which takes the GIL at the first point where the
    caller releases it: without a cost log that point is the budget's SQLite write, so the thread's
    ~0.4 ms of work is charged to the budget; with the log it is charged to the log write in both."""
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(urls, stop), daemon=True)
    server.start()
    fake = urls.get(timeout=60)
    for log in ("", "logging: {cost_log: costs.jsonl}\n"):
        with tempfile.TemporaryDirectory() as folder:
            plain_path, guarded_path = Path(folder) / "plain.yaml", Path(folder) / "guarded.yaml"
            plain_path.write_text(CONFIG + log)
            guarded_path.write_text(CONFIG + log + "budgets: {daily_usd: 1000, monthly_usd: 10000}\n")
            plain = llmcfg.LLM(use_fake(llmcfg.load_config(plain_path), fake))
            guarded = llmcfg.LLM(use_fake(llmcfg.load_config(guarded_path), fake))
            messages = [{"role": "user", "content": "hello there"}]
            for _ in range(30):
                plain.chat(messages=messages, model="mini", max_tokens=50)
                guarded.chat(messages=messages, model="mini", max_tokens=50)
            without, with_budget = [], []
            for _ in range(calls):
                start = time.perf_counter()
                plain.chat(messages=messages, model="mini", max_tokens=50)
                without.append(time.perf_counter() - start)
                start = time.perf_counter()
                guarded.chat(messages=messages, model="mini", max_tokens=50)
                with_budget.append(time.perf_counter() - start)
            a, b = statistics.median(with_budget) * 1000, statistics.median(without) * 1000
        label = "with the JSONL cost log" if log else "no cost log"
        print(
            f"{label:>24}: chat with budgets {a:.3f} ms, without {b:.3f} ms (medians of {calls}): +{a - b:.3f} ms (target < 1 ms)"
        )
    stop.set()
    server.join(timeout=10)


def bench_store_operations() -> None:
    """The local store's own work: one reserve plus one settle, nothing else running."""
    from llmcfg.money.budget.stores import LocalStore

    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(folder)
        windows = [f"w{i}" for i in range(6)]
        times = []
        for index in range(500):
            start = time.perf_counter()
            store.reserve(str(index), windows, {"w0": 1e9}, 0.001, time.time(), 900)
            store.settle(str(index), windows, 0.0005)
            times.append(time.perf_counter() - start)
        store.close()
    print(f"local store reserve + settle alone: {statistics.median(times) * 1000:.3f} ms median")


def write_log(path: Path, lines: int) -> None:
    rng = random.Random(7)
    models = ["openai/gpt-4o-mini", "openai/gpt-4o", "openrouter/meta-llama/llama-3.2-11b-vision-instruct"]
    with path.open("w") as handle:
        for index in range(lines):
            event = {
                "event": "llm.call",
                "ts": 1_795_000_000 + index,
                "request_id": f"{index:032x}",
                "kind": rng.choice(["chat", "vision", "ocr"]),
                "requested": "text/fast",
                "alias": rng.choice(["mini", "gpt4o", "llama"]),
                "model": rng.choice(models),
                "provider": "openai",
                "tokens_in": rng.randint(10, 4000),
                "tokens_out": rng.randint(1, 800),
                "cost_usd": rng.random() / 1000,
                "cost_source": "table",
                "cached": rng.random() < 0.2,
                "saved_usd": 0.0,
                "latency_ms": rng.random() * 2000,
                "status": "ok" if rng.random() < 0.98 else "error",
                "error": None,
                "fallbacks_tried": [],
            }
            handle.write(json.dumps(event) + "\n")


def bench_report() -> None:
    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder) / "big.jsonl", Path(folder) / "small.jsonl"
        write_log(big, 1_000_000)
        write_log(small, 100_000)
        start = time.perf_counter()
        result = report_file(big, by="model")
        seconds = time.perf_counter() - start
        peaks = []
        for path in (small, big):
            tracemalloc.start()
            report_file(path, by="day")
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
    print(
        f"costs report on 1,000,000 lines: {seconds:.2f} s, "
        f"{result.total.requests / seconds:,.0f} lines/s; peak traced memory {peaks[0]:.2f} MB at 100k lines, "
        f"{peaks[1]:.2f} MB at 1M lines"
    )


if __name__ == "__main__":
    bench_budget(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    bench_store_operations()
    bench_report()
