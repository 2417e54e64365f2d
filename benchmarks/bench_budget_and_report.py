"""Budget checks and the cost report, each measured against a baseline in the same run.

1. Budget check overhead per call, for both stores (local SQLite, Redis) and both drivers (chat,
   achat): `LLM.chat` with a daily limit against the same call without budgets, alternating, medians.
   Target: < 0.3 ms added per call. Also the store's reserve + settle alone.
(The cost report against DuckDB: bench_costs_report.py.)
Three clocks: wall time until the call returns; wall time until the call *and the logging work LiteLLM
started for it* (its logging thread pool, and for achat its tasks on the loop) are done ("settled"); and
the calling thread's CPU time (steadier on a loaded machine). LiteLLM hands each call's success logging
(~0.3 ms of Python) to a thread after a sync call and to the loop after an async one; whichever of the
caller's steps next releases the GIL (a syscall) or awaits pays it. With budgets that is the settle's
round trip, inside the call; without, the caller's next call. "settled" charges that work to the call
that caused it on both sides, so its difference is what budgets add; "returned" is what a caller that
does nothing after the call sees.
Run: python benchmarks/bench_budget_and_report.py [calls]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.redis_server

import structlog
from bench_chat_overhead import LoggingWork as ChatLoggingWork  # a sibling script
from bench_chat_overhead import logging_deferred

import llmcfg
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
  llama: {model: openai/gpt-4.1-mini}
presets:
  text: {fast: mini, balanced: gpt4o, best: llama}
router: {num_retries: 0}
cache: {dir: cache}
logging: {cost_log: costs.jsonl}
"""


def _serve(urls: multiprocessing.Queue, stop: Any) -> None:  # type: ignore[type-arg]
    with FakeProvider() as fake:
        urls.put(fake.base_url)
        stop.wait()


@contextmanager
def _redis(folder: Path) -> Iterator[str | None]:
    try:
        from tests.redis_server import redis_server

        with redis_server(folder) as url:
            yield url
    except BaseException as error:  # redis-server missing: pytest.skip raises a BaseException
        if type(error).__name__ != "Skipped":
            raise
        yield None


def _clocks() -> tuple[float, float]:
    """Wall time, and the calling thread's CPU time. Not the process's: LiteLLM's logging threads
    work after each call, and a budget's round trip to Redis gives them time to run inside the
    measured call, which would bill their work to the budget. The stores do their work on the
    calling thread (a worker thread only while another process holds the local ledger)."""
    return time.perf_counter(), time.thread_time()


Samples = dict[str, list[float]]  # "wall", "settled" and "cpu": seconds per call


def _samples() -> Samples:
    return {"wall": [], "settled": [], "cpu": []}


class LoggingWork(ChatLoggingWork):
    """bench_chat_overhead's wait for LiteLLM's logging thread pool, and for achat its loop tasks."""

    async def asettle(self, before: set[asyncio.Task[Any]]) -> None:
        """The threads' work, and the tasks started on the loop since ``before``."""
        self.settle()
        started = asyncio.all_tasks() - before - {asyncio.current_task()}
        if started:
            await asyncio.wait(started, timeout=1.0)
        self.settle()


def _record(samples: Samples, start: tuple[float, float]) -> None:
    wall, cpu = _clocks()
    samples["wall"].append(wall - start[0])
    samples["cpu"].append(cpu - start[1])


def _settled(samples: Samples, start: tuple[float, float]) -> None:
    samples["settled"].append(time.perf_counter() - start[0])


def _medians(
    plain: Callable[[], Any], guarded: Callable[[], Any], calls: int, work: LoggingWork
) -> tuple[Samples, Samples]:
    for _ in range(20):
        plain()
        guarded()
    work.settle()
    without, with_budget = _samples(), _samples()
    for index in range(calls):  # the order alternates: neither side is always the second call
        for side in (plain, guarded) if index % 2 else (guarded, plain):
            samples = without if side is plain else with_budget
            start = _clocks()
            side()
            _record(samples, start)
            work.settle()
            _settled(samples, start)
    return without, with_budget


def _show(name: str, driver: str, without: Samples, with_budget: Samples) -> None:
    for clock in ("wall", "settled", "cpu"):
        b = statistics.median(without[clock]) * 1000
        a = statistics.median(with_budget[clock]) * 1000
        print(
            f"{name:>6} store, {driver:<5} {clock:<7}: {a:.3f} ms with budgets, {b:.3f} ms without: "
            f"+{a - b:.3f} ms ({a / b:.3f}x); target < 0.3 ms"
        )


def bench_budget(calls: int) -> None:
    """The fake runs in its own process, as a real provider would; both sides write the cost log."""
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(urls, stop), daemon=True)
    server.start()
    fake = urls.get(timeout=60)
    work = LoggingWork()
    messages = [{"role": "user", "content": "hello there"}]
    with tempfile.TemporaryDirectory() as folder, _redis(Path(folder)) as redis_url:
        stores = {"local": "  store: local\n"}
        if redis_url is not None:
            stores["redis"] = f"  store: redis\n  redis_url: {redis_url}\n"
        else:
            print("redis: not measured (redis-server is not installed)")
        plain_path = Path(folder) / "plain.yaml"
        plain_path.write_text(CONFIG)
        plain = llmcfg.LLM(use_fake(llmcfg.load_config(plain_path), fake, isolate=False))
        for name, store in stores.items():
            guarded_path = Path(folder) / f"guarded-{name}.yaml"
            guarded_path.write_text(CONFIG + f"budgets:\n{store}  daily_usd: 1000\n  monthly_usd: 10000\n")
            guarded = llmcfg.LLM(use_fake(llmcfg.load_config(guarded_path), fake, isolate=False))
            without, with_budget = _medians(
                lambda: plain.chat(messages=messages, model="mini", max_tokens=50),
                lambda g=guarded: g.chat(messages=messages, model="mini", max_tokens=50),  # type: ignore[misc]
                calls,
                work,
            )
            _show(name, "chat", without, with_budget)

            async def both(g: Any = guarded) -> tuple[Samples, Samples]:
                loop_plain, loop_guarded = _samples(), _samples()
                for index in range(calls + 20):  # the order alternates, as for chat
                    for llm, samples in ((plain, loop_plain), (g, loop_guarded))[:: 1 if index % 2 else -1]:
                        before = asyncio.all_tasks()
                        start = _clocks()
                        await llm.achat(messages=messages, model="mini", max_tokens=50)
                        if index >= 20:
                            _record(samples, start)
                        await work.asettle(before)
                        if index >= 20:
                            _settled(samples, start)
                return loop_plain, loop_guarded

            _show(name, "achat", *asyncio.run(both()))
    stop.set()
    server.join(timeout=10)


def bench_store_operations() -> None:
    """Each store's own work: one reserve plus one settle, nothing else running (sync and async)."""
    from llmcfg.money.budget.redis_store import RedisStore
    from llmcfg.money.budget.stores import BudgetStore, LocalStore

    windows = [f"w{i}" for i in range(6)]

    async def pairs(store: BudgetStore, times: list[float]) -> None:
        for index in range(500):
            start = time.thread_time()
            await store.areserve(str(index), windows, {"w0": 1e9}, 0.001, time.time(), 900)  # type: ignore[attr-defined]
            await store.asettle(str(index), windows, 0.0005)  # type: ignore[attr-defined]
            times.append(time.thread_time() - start)

    with tempfile.TemporaryDirectory() as folder, _redis(Path(folder)) as redis_url:
        stores: dict[str, BudgetStore] = {"local": LocalStore(folder)}
        if redis_url is not None:
            stores["redis"] = RedisStore(redis_url)
        for name, store in stores.items():
            times: list[float] = []
            for index in range(500):
                start = time.thread_time()
                store.reserve(str(index), windows, {"w0": 1e9}, 0.001, time.time(), 900)
                store.settle(str(index), windows, 0.0005)
                times.append(time.thread_time() - start)
            async_times: list[float] = []
            asyncio.run(pairs(store, async_times))
            store.close()
            print(
                f"{name} store reserve + settle alone (CPU): {statistics.median(times) * 1000:.3f} ms sync, "
                f"{statistics.median(async_times) * 1000:.3f} ms async"
            )


def bench_round_trip_floor(calls: int) -> None:
    """The least a Redis budget can cost, measured: a reserve before sending and a settle before
    returning are two round trips, here two ``PING``s on a bare redis-py connection (no script, no
    estimate, no bookkeeping), timed right after a bare LiteLLM call as they run in use (LiteLLM's
    logging work run first, in the calling thread), and again at once. The target is 0.3 ms."""
    import litellm
    import redis
    import redis.asyncio

    messages = [{"role": "user", "content": "hello there"}]
    with (
        FakeProvider() as fake,
        tempfile.TemporaryDirectory() as folder,
        _redis(Path(folder)) as url,
        logging_deferred() as logging_work,
    ):
        if url is None:
            print("redis round-trip floor: not measured (redis-server is not installed)")
            return
        deployment = {"model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key": "bench"}
        bare = litellm.Router(
            model_list=[{"model_name": "mini", "litellm_params": deployment}], num_retries=0
        )
        pool = redis.Redis.from_url(url).connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)

        def two() -> None:
            for _ in range(2):
                connection.send_command("PING")
                connection.read_response()

        after: list[float] = []
        again: list[float] = []
        try:
            for index in range(calls + 20):
                bare.completion(model="mini", messages=messages)
                logging_work()
                start = time.perf_counter()
                two()
                middle = time.perf_counter()
                two()
                if index >= 20:
                    after.append(middle - start)
                    again.append(time.perf_counter() - middle)

            async def both() -> tuple[list[float], list[float]]:
                apool = redis.asyncio.ConnectionPool.from_url(url)
                aconnection = apool.connection_class(**apool.connection_kwargs)

                async def atwo() -> None:
                    for _ in range(2):
                        await aconnection.send_command("PING")
                        await aconnection.read_response()

                aafter: list[float] = []
                aagain: list[float] = []
                for index in range(calls + 20):
                    before = asyncio.all_tasks()
                    await bare.acompletion(model="mini", messages=messages)
                    started = asyncio.all_tasks() - before - {asyncio.current_task()}
                    if started:
                        await asyncio.wait(started, timeout=1.0)
                    logging_work()
                    start = time.perf_counter()
                    await atwo()
                    middle = time.perf_counter()
                    await atwo()
                    if index >= 20:
                        aafter.append(middle - start)
                        aagain.append(time.perf_counter() - middle)
                await aconnection.disconnect()
                return aafter, aagain

            aafter, aagain = asyncio.run(both())
        finally:
            connection.disconnect()
    for driver, a, b in (("sync ", after, again), ("async", aafter, aagain)):
        print(
            f"redis round-trip floor, {driver}: two PINGs right after a bare call "
            f"{statistics.median(a) * 1000:.3f} ms wall, again at once {statistics.median(b) * 1000:.3f} ms "
            "(target for the whole budget: < 0.3 ms)"
        )


if __name__ == "__main__":
    bench_budget(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    bench_store_operations()
    bench_round_trip_floor(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
