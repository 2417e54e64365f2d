"""One suite, both stores: reservations are atomic, settle/release keep the ledger right, and a
crashed process's reservation expires."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcfg.money.budget.redis_store import RedisStore
from llmcfg.money.budget.stores import BudgetStore, LocalStore
from tests.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def open_store(kind: str, where: str) -> BudgetStore:
    return (
        LocalStore(where) if kind == "local" else RedisStore(where, prefix="test")
    )  # the db is flushed per test


@pytest.fixture(params=["local", "redis"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "local":
        yield "local", str(tmp_path / "budget")
    else:
        url = request.getfixturevalue("redis_url")
        import redis

        redis.Redis.from_url(url).flushdb()
        yield "redis", url


NOW = 1_800_000_000.0
WINDOWS = ["total:day:d", "alias=a:day:d"]


def test_reserve_refuses_past_the_limit_and_counts_reservations(store_at: tuple[str, str]) -> None:
    store = open_store(*store_at)
    assert store.reserve("r1", WINDOWS, {"total:day:d": 1.0}, 0.6, NOW, 60) is None
    refusal = store.reserve("r2", WINDOWS, {"total:day:d": 1.0}, 0.6, NOW, 60)
    assert refusal is not None
    assert (refusal.window, refusal.limit, refusal.used) == ("total:day:d", 1.0, pytest.approx(0.6))
    assert store.totals(WINDOWS, NOW) == {
        "total:day:d": (0.0, pytest.approx(0.6), 0),
        "alias=a:day:d": (0.0, pytest.approx(0.6), 0),
    }


def test_settle_records_the_actual_and_release_frees(store_at: tuple[str, str]) -> None:
    store = open_store(*store_at)
    store.reserve("r1", WINDOWS, {"total:day:d": 1.0}, 0.6, NOW, 60)
    store.settle("r1", WINDOWS, 0.25)
    store.reserve("r2", WINDOWS, {"total:day:d": 1.0}, 0.7, NOW, 60)
    store.release("r2")
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.25), 0.0, 0)
    assert (
        store.reserve("r3", WINDOWS, {"total:day:d": 1.0}, 0.75, NOW, 60) is None
    )  # 0.25 + 0.75 fits exactly


def test_settle_after_expiry_is_still_recorded(store_at: tuple[str, str]) -> None:
    store = open_store(*store_at)
    store.reserve("r1", WINDOWS, {}, 0.5, NOW, 1)
    store.settle("r1", WINDOWS, 0.4)
    assert store.totals(WINDOWS, NOW + 100)["total:day:d"] == (pytest.approx(0.4), 0.0, 0)


def test_an_unknown_cost_is_counted_apart_never_as_zero(store_at: tuple[str, str]) -> None:
    store = open_store(*store_at)
    store.reserve("r1", WINDOWS, {}, 0.0, NOW, 60)
    store.settle("r1", WINDOWS, None)
    store.reserve("r2", WINDOWS, {}, 0.1, NOW, 60)
    store.settle("r2", WINDOWS, 0.1)
    assert store.totals(WINDOWS, NOW)["alias=a:day:d"] == (pytest.approx(0.1), 0.0, 1)


def _reserve_and_hang(kind: str, where: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    store = open_store(kind, where)
    store.reserve("orphan", WINDOWS, {"total:day:d": 1.0}, 0.9, NOW, 30)
    ready.set()
    time.sleep(60)


def test_a_killed_process_reservation_expires(store_at: tuple[str, str]) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_reserve_and_hang, args=(*store_at, ready))
    child.start()
    deadline = time.monotonic() + 60
    while not ready.wait(0.05):  # a child that fails fails the test now, not after the minute
        assert child.exitcode is None, f"the child failed before reserving (exit code {child.exitcode})"
        assert time.monotonic() < deadline
    os.kill(child.pid or 0, signal.SIGKILL)
    child.join()
    store = open_store(*store_at)
    assert store.reserve("mine", WINDOWS, {"total:day:d": 1.0}, 0.5, NOW + 10, 30) is not None  # still held
    assert store.reserve("mine", WINDOWS, {"total:day:d": 1.0}, 0.5, NOW + 31, 30) is None  # expired: freed


def _answers(workers: list[Any], results: Any, within_s: float) -> list[Any]:
    """Start the workers and collect one answer from each. A worker that dies instead (an error in
    the store) fails the test at once; the others, waiting at a barrier for it, are stopped."""
    for worker in workers:
        worker.start()
    answers: list[Any] = []
    deadline = time.monotonic() + within_s
    try:
        while len(answers) < len(workers):
            try:
                answers.append(results.get(timeout=0.05))
            except queue.Empty:
                failed = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
                assert not failed, f"a worker failed (exit codes {failed})"
                assert time.monotonic() < deadline, "the workers did not finish in time"
    finally:
        for worker in workers:
            if len(answers) < len(workers):
                worker.terminate()
            worker.join()
    return answers


def _hammer(kind: str, where: str, count: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = open_store(kind, where)
    granted = 0
    for index in range(count):
        if store.reserve(f"{os.getpid()}-{index}", WINDOWS, {"total:day:d": 1.0}, 0.01, NOW, 60) is None:
            store.settle(f"{os.getpid()}-{index}", WINDOWS, 0.01)
            granted += 1
    results.put(granted)


ROUNDS = 40


def _race(kind: str, where: str, barrier: Any, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = open_store(kind, where)
    granted = []
    for round_ in range(ROUNDS):
        # many limited windows: each is checked before any is written, the span a race needs
        windows = [f"w{index}:day:{round_}" for index in range(256)]
        barrier.wait(timeout=300)  # every process reserves at the same moment
        if (
            store.reserve(f"{os.getpid()}-{round_}", windows, dict.fromkeys(windows, 1.0), 0.6, NOW, 60)
            is None
        ):
            granted.append(round_)
    results.put(granted)


def test_simultaneous_reservations_never_both_fit(store_at: tuple[str, str]) -> None:
    """4 processes released together by a barrier, 40 rounds, each round its own windows with room for
    one reservation: exactly one may win each round. A check-then-insert without a transaction lets
    two processes read the same 'used' and both win (this fails on the local store without
    ``BEGIN IMMEDIATE``)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    barrier = context.Barrier(4)
    workers = [context.Process(target=_race, args=(*store_at, barrier, results)) for _ in range(4)]
    granted = [round_ for answer in _answers(workers, results, 900) for round_ in answer]
    doubled = sorted({r for r in granted if granted.count(r) > 1})
    assert not doubled, f"rounds where two reservations both fit: {doubled}"
    assert sorted(granted) == list(range(ROUNDS))


def test_reservations_are_atomic_across_processes(store_at: tuple[str, str]) -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_hammer, args=(*store_at, 60, results)) for _ in range(4)]
    granted = sum(_answers(workers, results, 120))
    spent = open_store(*store_at).totals(WINDOWS, NOW)["total:day:d"][0]
    assert granted == 100  # 240 asked, exactly the limit's worth granted
    assert spent == pytest.approx(1.0)


# -- a ledger that cannot be used is a BudgetStoreError naming it, never a provider error -------------
def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unusable(kind: str, tmp_path: Path) -> tuple[BudgetStore, str, Any]:
    """A store that cannot work: a local ledger locked by another connection (its busy timeout
    short), or Redis at a closed port with a password in the URL. Returns it, what its errors must
    name, and what to undo."""
    if kind == "local":
        import sqlite3

        store = LocalStore(str(tmp_path / "budget"), busy_timeout_s=0.2)
        store.totals(WINDOWS, NOW)  # the ledger exists
        holder = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")  # what another process's long transaction looks like
        return store, store.path, holder.close
    url = f"redis://:s3cret-pw@127.0.0.1:{_closed_port()}/0"
    return RedisStore(url), "redis://:***@127.0.0.1:", lambda: None


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_every_operation_on_an_unusable_store_is_a_budget_store_error(kind: str, tmp_path: Path) -> None:
    from llmcfg.exceptions import BudgetStoreError

    store, named, undo = _unusable(kind, tmp_path)
    operations: dict[str, Any] = {
        "reserve": lambda: store.reserve("r1", WINDOWS, {"total:day:d": 1.0}, 0.1, NOW, 60),
        "settle": lambda: store.settle("r1", WINDOWS, 0.1),
        "release": lambda: store.release("r1"),
    }
    if kind == "redis":  # the local ledger stays readable while another process writes (WAL)
        operations["totals"] = lambda: store.totals(WINDOWS, NOW)
    try:
        for name, operation in operations.items():
            with pytest.raises(BudgetStoreError) as caught:
                operation()
            message = str(caught.value)
            assert named in message, (name, message)
            assert "budgets.store" in message or "cache.dir" in message, (name, message)  # what to do
            assert "s3cret" not in message, name
            assert caught.value.__context__ is None, name  # the raw error is not chained
    finally:
        undo()


def test_a_ledger_in_a_folder_that_cannot_exist_says_so(tmp_path: Path) -> None:
    from llmcfg.exceptions import BudgetStoreError

    (tmp_path / "taken").write_text("a file where the ledger's folder should be")
    store = LocalStore(str(tmp_path / "taken"))
    with pytest.raises(BudgetStoreError, match=r"taken.*cannot use the ledger.*writable folder"):
        store.reserve("r1", WINDOWS, {}, 0.1, NOW, 60)
