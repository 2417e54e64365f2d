"""`LLM.chat` against a bare `litellm.Router.completion` (and `achat` against `acompletion`), same fake
provider, same process.

Both sides talk over real HTTP to llmcfg.testing.FakeProvider (TCP_NODELAY on). Calls alternate
between the two so machine noise hits both alike. llmcfg does its whole protocol: alias, capability,
cache lookup (cache.text off: a miss), request id, cost, one llm.call event, the JSONL cost log
(a real file, appended under flock). The event goes to the standard library logger `llmcfg.events`,
set to WARNING as an application that does not read INFO would: nothing is rendered for it.
Targets (issue 15): both ratios <= 1.02 (median of many calls). Also the chat cache-hit latency
(cache=True, answered from diskcache).

Two clocks: wall time (what a user waits) and the calling thread's CPU time (``time.thread_time``),
which a loaded machine disturbs far less: on a shared 2-core box the wall-time noise between two runs
is larger than the 2 % being measured, while the CPU-time ratio still shows llmcfg's own work.
The fake provider runs in a child process, as a real provider runs elsewhere: in this process its
server thread would compete for the GIL with whichever side happens to be running.

Three clocks for the sync pair: wall time until the call returns, wall time until the call *and the
logging work LiteLLM started for it in its background thread* are done ("settled"), and the calling
thread's CPU time. LiteLLM hands every sync call's success logging to a thread pool; that thread then
holds the GIL for a few hundred µs, and whoever next releases the GIL (any syscall) waits for it.
llmcfg's cost-log write is such a syscall, so it pays LiteLLM's logging inside ``llm.chat``, while a
bare ``Router.completion`` returns first and its caller pays the same work at its next syscall (here:
the next call's request). "settled" charges that work to the call that caused it on both sides, so
its ratio is llmcfg's own overhead; "returned" is what a caller that does no I/O after the call sees.
Call by call, the logging work a bare call leaves behind is paid at the next call's first syscall,
which is llmcfg's (its request id, its request): each llm.chat pays its own and the bare call's. So
"in blocks" alternates the sides every 10 calls and counts only calls that follow one of their own
side: each pays its own work. A last pair runs llm.chat with no cost log (nothing written after the
call).
Run: python benchmarks/bench_chat_overhead.py [calls]
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import llmcfg
from llmcfg.testing import use_fake

CONFIG = """
cache: {dir: cache}
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
router: {num_retries: 0}
logging: {cost_log: costs.jsonl, events: stderr}
"""
MESSAGES = [{"role": "user", "content": "hello"}]


def bare_router(base_url: str) -> Any:
    import litellm

    deployment = {"model": "openai/gpt-4o-mini", "api_base": base_url, "api_key": "bench"}
    return litellm.Router(model_list=[{"model_name": "mini", "litellm_params": deployment}], num_retries=0)


Samples = dict[str, list[float]]  # "wall", "settled" and "cpu": seconds per call

_SERVE = """
import sys
from llmcfg.testing import FakeProvider
with FakeProvider() as fake:
    print(fake.base_url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


@contextmanager
def fake_provider_process() -> Iterator[str]:
    """A FakeProvider in a child process; yields its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


class LoggingWork:
    """The futures of the work LiteLLM hands to its logging thread pool, to wait for them."""

    def __init__(self) -> None:
        from litellm.litellm_core_utils.thread_pool_executor import executor

        self.pending: list[Future[Any]] = []
        submit = executor.submit

        def recording_submit(fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            future = submit(fn, *args, **kwargs)
            self.pending.append(future)
            return future

        executor.submit = recording_submit  # type: ignore[method-assign]

    def settle(self) -> None:
        wait(self.pending)
        self.pending.clear()


@contextmanager
def logging_deferred() -> Iterator[Callable[[], None]]:
    """LiteLLM's logging work queued instead of handed to its thread pool; the function yielded runs
    what is queued, in the calling thread (after the clock stops): no GIL hand-over inside a call."""
    from litellm.litellm_core_utils.thread_pool_executor import executor

    queued: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
    submit = executor.submit
    executor.submit = lambda fn, /, *args, **kwargs: queued.append((fn, args, kwargs))  # type: ignore[assignment,method-assign,misc]

    def run_queued() -> None:
        for fn, args, kwargs in queued:
            fn(*args, **kwargs)
        queued.clear()

    try:
        yield run_queued
    finally:
        executor.submit = submit  # type: ignore[method-assign]


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _add(samples: Samples, start: tuple[float, float], logging_work: LoggingWork | None = None) -> None:
    wall, cpu = _clocks()
    samples["wall"].append(wall - start[0])
    samples["cpu"].append(cpu - start[1])
    if logging_work is not None:
        logging_work.settle()
        samples["settled"].append(time.perf_counter() - start[0])


def sync_side(llm: llmcfg.LLM, bare: Any, calls: int) -> tuple[Samples, Samples]:
    logging_work = LoggingWork()
    for _ in range(30):  # warm both: connection pools, imports, caches
        llm.chat(messages=MESSAGES, model="mini")
        bare.completion(model="mini", messages=MESSAGES)
    logging_work.settle()
    ours: Samples = {"wall": [], "settled": [], "cpu": []}
    theirs: Samples = {"wall": [], "settled": [], "cpu": []}
    for _ in range(calls):
        start = _clocks()
        llm.chat(messages=MESSAGES, model="mini")
        _add(ours, start, logging_work)
        start = _clocks()
        bare.completion(model="mini", messages=MESSAGES)
        _add(theirs, start, logging_work)
    return ours, theirs


def sync_blocks(llm: llmcfg.LLM, bare: Any, calls: int, block: int = 10) -> tuple[Samples, Samples]:
    """Returned wall time with the sides alternating in blocks of ``block`` calls, the first call of
    each block not counted. Call by call, the logging work a bare call leaves behind is paid at the
    next call's first syscall, which is llmcfg's: each llm.chat would pay its own and the bare call's.
    In blocks, every counted call follows a call of its own side: each pays only its own."""
    ours: Samples = {"wall": [], "cpu": []}
    theirs: Samples = {"wall": [], "cpu": []}
    sides = (
        (lambda: llm.chat(messages=MESSAGES, model="mini"), ours),
        (lambda: bare.completion(model="mini", messages=MESSAGES), theirs),
    )
    for _ in range(max(1, calls // (block - 1))):
        for call, samples in sides:
            call()  # pays what the other side left behind
            for _ in range(block - 1):
                start = _clocks()
                call()
                _add(samples, start)
    return ours, theirs


async def async_side(llm: llmcfg.LLM, bare: Any, calls: int) -> tuple[Samples, Samples]:
    for _ in range(30):
        await llm.achat(messages=MESSAGES, model="mini")
        await bare.acompletion(model="mini", messages=MESSAGES)
    ours: Samples = {"wall": [], "cpu": []}
    theirs: Samples = {"wall": [], "cpu": []}
    for _ in range(calls):
        start = _clocks()
        await llm.achat(messages=MESSAGES, model="mini")
        _add(ours, start)
        start = _clocks()
        await bare.acompletion(model="mini", messages=MESSAGES)
        _add(theirs, start)
    return ours, theirs


def report(name: str, baseline: str, ours: Samples, theirs: Samples) -> None:
    for clock in ("wall", "settled", "cpu"):
        if not ours.get(clock):
            continue
        a, b = statistics.median(ours[clock]), statistics.median(theirs[clock])
        print(
            f"{clock:>7}: {name} {a * 1000:.3f} ms, {baseline} {b * 1000:.3f} ms (medians of {len(ours[clock])}); "
            f"ratio {a / b:.3f} (target <= 1.02; llmcfg's own work ~{(a - b) * 1e6:.0f} us/call)"
        )


def own_work(llm: llmcfg.LLM, bare: Any, calls: int = 2000) -> None:
    """llmcfg's own CPU per call, isolated: its Router answers with a response built beforehand, so
    what is left is llmcfg's protocol (alias, checks, cost, event, cost-log line, stats), compared
    with the CPU of a real bare call. Measured twice: call after call (warm: each call finds the
    last one's code and data in the CPU caches) and each right after a real bare call, as in use
    (the same work costs several times more: not the garbage collector, gc.disable() changes
    nothing; every function is slower alike). The difference between the two ratios above and this one is
    not llmcfg's code but where LiteLLM's background logging lands (see the module docstring)."""
    router = llm._runtime.router
    response = router.completion(model="mini", messages=MESSAGES)
    real = router.completion
    router.completion = lambda **_: response
    logging_work = LoggingWork()
    ours: list[float] = []
    cold: list[float] = []  # the same, each right after a real bare call (and its logging) ran
    idle: list[float] = []  # the same, each after a 5 ms sleep
    theirs: list[float] = []
    try:
        for _ in range(calls):
            start = time.thread_time()
            llm.chat(messages=MESSAGES, model="mini")
            ours.append(time.thread_time() - start)
        for _ in range(200):
            start = time.thread_time()
            bare.completion(model="mini", messages=MESSAGES)
            theirs.append(time.thread_time() - start)
            logging_work.settle()
            start = time.thread_time()
            llm.chat(messages=MESSAGES, model="mini")
            cold.append(time.thread_time() - start)
            time.sleep(0.005)  # no LiteLLM at all: the CPU idles, as in a wait for a response
            start = time.thread_time()
            llm.chat(messages=MESSAGES, model="mini")
            idle.append(time.thread_time() - start)
    finally:
        router.completion = real
    own, after, call = statistics.median(ours), statistics.median(cold), statistics.median(theirs)
    print(
        f"    own: llmcfg's protocol alone {own * 1e6:.0f} us CPU per call; bare call {call * 1000:.3f} ms CPU; "
        f"ratio {(call + own) / call:.3f} (target <= 1.02)"
    )
    print(
        f"    own: the same protocol right after a real LiteLLM call {after * 1e6:.0f} us CPU "
        f"({after / own:.1f}x: LiteLLM's work leaves the CPU caches cold); ratio {(call + after) / call:.3f}"
    )
    slept = statistics.median(idle)
    print(
        f"    own: the same protocol after a 5 ms sleep, no LiteLLM call {slept * 1e6:.0f} us CPU ({slept / own:.1f}x)"
    )


def floor(llm: llmcfg.LLM, bare: Any, folder: str, calls: int) -> None:
    """Why 1.02x is out of reach on this machine, measured: with LiteLLM's logging work run after the
    clock stops (in the calling thread: no GIL hand-over inside either call), llm.chat against the
    bare call; and the one piece of work the issue itself prescribes, the cost-log line (llmcfg's
    ``CostLog.append``: stat, flock, write, unlock), timed right after a bare call and then again at once. Right
    after LiteLLM's ~2.7 ms of Python, every piece of work (syscalls included) costs several times
    what it costs back to back, so the line alone takes a sizeable share of the 2 % (58 us)."""
    from llmcfg.money.events import CostLog

    log = CostLog(str(Path(folder) / "floor.jsonl"))
    event = json.loads((Path(folder) / "costs.jsonl").read_text().splitlines()[-1])  # a real llm.call line
    ours, theirs, line_after, line_warm = [], [], [], []
    with logging_deferred() as logging_work:
        for _ in range(calls):
            start = time.thread_time()
            llm.chat(messages=MESSAGES, model="mini")
            ours.append(time.thread_time() - start)
            logging_work()
            start = time.thread_time()
            bare.completion(model="mini", messages=MESSAGES)
            theirs.append(time.thread_time() - start)
            start = time.thread_time()
            log.append(event)
            line_after.append(time.thread_time() - start)
            start = time.thread_time()
            log.append(event)
            line_warm.append(time.thread_time() - start)
            logging_work()
    log.close()
    a, b = statistics.median(ours), statistics.median(theirs)
    after, warm = statistics.median(line_after), statistics.median(line_warm)
    print(
        f"  floor: LiteLLM's logging run after the clock: llm.chat {a * 1000:.3f} ms CPU, Router.completion "
        f"{b * 1000:.3f} ms; ratio {a / b:.3f} (~{(a - b) * 1e6:.0f} us/call)"
    )
    print(
        f"  floor: one cost-log line right after a bare call {after * 1e6:.0f} us CPU ({after / b * 100:.1f} % of "
        f"the call), the next line written at once {warm * 1e6:.1f} us; 1.02x leaves {b * 0.02 * 1e6:.0f} us for the whole protocol"
    )


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    logging.getLogger("llmcfg.events").setLevel(logging.WARNING)  # an app that does not read INFO
    with fake_provider_process() as base_url, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm_config.yaml"
        path.write_text(CONFIG)
        llm = llmcfg.LLM(use_fake(llmcfg.load_config(path), base_url, isolate=False))
        bare = bare_router(base_url)
        report("llm.chat", "Router.completion", *sync_side(llm, bare, calls))
        ours, theirs = sync_blocks(llm, bare, calls)
        report("llm.chat in blocks", "Router.completion", {"wall": ours["wall"]}, theirs)
        # The same call with no cost log: no syscall between the Router's return and ours, so
        # LiteLLM's logging work lands after the return on both sides (the mechanism, shown).
        unlogged = Path(folder) / "no_cost_log.yaml"
        unlogged.write_text(CONFIG.replace("cost_log: costs.jsonl, ", "cost_log: null, "))
        silent = llmcfg.LLM(use_fake(llmcfg.load_config(unlogged), base_url, isolate=False))
        ours, theirs = sync_side(silent, bare, calls)
        report("llm.chat without a cost log", "Router.completion", {"wall": ours["wall"]}, theirs)
        report("llm.achat", "Router.acompletion", *asyncio.run(async_side(llm, bare, calls)))
        own_work(llm, bare)
        floor(llm, bare, folder, calls)
        llm.chat(messages=MESSAGES, model="mini", cache=True)
        hits = []
        for _ in range(calls):
            start = time.perf_counter()
            llm.chat(messages=MESSAGES, model="mini", cache=True)
            hits.append(time.perf_counter() - start)
        logged = len((Path(folder) / "costs.jsonl").read_text().splitlines())
    print(f"chat cache hit       median {statistics.median(hits) * 1000:.3f} ms (target < 2 ms)")
    print(f"cost log lines written: {logged}")


if __name__ == "__main__":
    main()
