"""The Redis ledger's own connections (taken from an idle list and put back, one list per process and
per event loop): reused, replaced when Redis closed them while idle, and a script Redis forgot
(a restart, SCRIPT FLUSH) sent again in full -- on a real redis-server."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llmcfg.money.budget.redis_store import RedisStore
from llmcfg.money.budget.stores import Refusal
from tests.redis_server import redis_server

NOW = 1_800_000_000.0
WINDOWS = ["total:day:d", "alias=a:day:d"]
LIMITS = {"total:day:d": 1.0}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def _connections(redis_db: Any) -> int:
    return int(redis_db.info("stats")["total_connections_received"])


Steps = Callable[[RedisStore, Callable[[], None]], None]


def _sync_steps(store: RedisStore, between: Callable[[], None]) -> None:
    assert store.reserve("r1", WINDOWS, LIMITS, 0.25, NOW, 60) is None
    store.settle("r1", WINDOWS, 0.25)
    between()
    assert store.reserve("r2", WINDOWS, LIMITS, 0.25, NOW, 60) is None
    store.settle("r2", WINDOWS, 0.25)


def _async_steps(store: RedisStore, between: Callable[[], None]) -> None:
    async def steps() -> None:
        assert await store.areserve("r1", WINDOWS, LIMITS, 0.25, NOW, 60) is None
        await store.asettle("r1", WINDOWS, 0.25)
        between()
        await asyncio.sleep(0.1)  # the loop runs between two calls: it reads what Redis did meanwhile
        assert await store.areserve("r2", WINDOWS, LIMITS, 0.25, NOW, 60) is None
        await store.asettle("r2", WINDOWS, 0.25)

    asyncio.run(steps())


DRIVERS = [pytest.param(_sync_steps, id="sync"), pytest.param(_async_steps, id="async")]


@pytest.mark.parametrize("steps", DRIVERS)
def test_one_caller_s_operations_share_one_connection(redis_db: Any, redis_url: str, steps: Steps) -> None:
    store = RedisStore(redis_url, prefix="reuse-test")
    before = _connections(redis_db)
    steps(store, lambda: None)
    assert _connections(redis_db) - before == 1
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.5), 0.0, 0)
    store.close()


@pytest.mark.parametrize("steps", DRIVERS)
def test_a_connection_redis_closed_while_idle_is_replaced(
    redis_db: Any, redis_url: str, steps: Steps
) -> None:
    """Redis closed the store's idle connection (a restart, its idle ``timeout``, CLIENT KILL): the next
    operation opens a new one instead of failing."""
    store = RedisStore(redis_url, prefix="killed-test")

    def kill_the_store_s_connections() -> None:
        assert redis_db.client_kill_filter(_type="normal", skipme=True) >= 1

    steps(store, kill_the_store_s_connections)
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.5), 0.0, 0)
    store.close()


@pytest.mark.parametrize("steps", DRIVERS)
def test_a_script_redis_forgot_is_sent_again(redis_db: Any, redis_url: str, steps: Steps) -> None:
    store = RedisStore(redis_url, prefix="flushed-test")
    steps(store, redis_db.script_flush)
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.5), 0.0, 0)
    store.close()


def test_a_new_day_or_a_new_limit_is_checked_against_its_own_windows(redis_db: Any, redis_url: str) -> None:
    """The windows and limits are encoded once per set and reused: a store that lives past midnight
    (new window names) or through a config reload (a new limit) must reserve against the new set."""
    store = RedisStore(redis_url, prefix="spec-test")
    assert store.reserve("d1", ["total:day:d1"], {"total:day:d1": 1.0}, 0.75, NOW, 60) is None
    # same windows, a higher limit after a reload: admitted where the old limit refuses
    assert store.reserve("d2", ["total:day:d1"], {"total:day:d1": 1.0}, 0.5, NOW, 60) is not None
    assert store.reserve("d3", ["total:day:d1"], {"total:day:d1": 2.0}, 0.5, NOW, 60) is None
    # the next day: a fresh window, under its own (lower) limit
    refused = store.reserve("d4", ["total:day:d2"], {"total:day:d2": 0.5}, 0.75, NOW + 86400, 60)
    assert refused is not None
    assert store.reserve("d5", ["total:day:d2"], {"total:day:d2": 0.5}, 0.25, NOW + 86400, 60) is None


# -- a forked process: its own connection, never its parent's socket ------------------------------------
PARENT, CHILD = "fork:parent", "fork:child"
CAPPED = "fork:capped"  # limit 0: every reservation there is refused, so a reply read by the wrong
ROUNDS = 150  # process (a shared socket interleaves them) shows as an answer of the wrong kind


def _operate(store: RedisStore, window: str, rounds: int) -> None:
    """``rounds`` reserve-settle pairs on ``window`` between refused reservations, each answer checked."""
    for i in range(rounds):
        assert store.reserve(f"{window}:{i}", [window], {window: 1e9}, 0.01, NOW, 60) is None
        refused = store.reserve(f"{window}:capped:{i}", [CAPPED], {CAPPED: 0.0}, 0.01, NOW, 60)
        assert refused == Refusal(CAPPED, 0.0, 0.0)
        store.settle(f"{window}:{i}", [window], 0.01)


def _child(store: RedisStore, start: Any) -> None:
    start.wait(10)
    _operate(store, CHILD, ROUNDS)


def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_its_own(
    redis_db: Any, redis_url: str
) -> None:
    """A process forked while the store holds an idle connection (a web server's workers forked after
    startup, multiprocessing) inherits the socket too: written to by both, Redis's answers go to
    whichever reads first. The child must open its own; the parent's keeps working."""
    store = RedisStore(f"{redis_url}?socket_timeout=5", prefix="fork-test")  # a mixed-up wait ends
    _operate(store, PARENT, 1)  # the parent's connection is idle now: the one a child could inherit
    before = _connections(redis_db)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    child = context.Process(target=_child, args=(store, start))
    child.start()
    start.set()
    try:
        _operate(store, PARENT, ROUNDS)  # at the same time as the child
    finally:
        child.join(30)
        if child.exitcode is None:
            child.kill()
    assert child.exitcode == 0
    assert _connections(redis_db) - before == 1  # the child's; the parent opened none
    totals = store.totals([PARENT, CHILD, CAPPED], NOW)
    assert totals[PARENT] == (pytest.approx((ROUNDS + 1) * 0.01), 0.0, 0)
    assert totals[CHILD] == (pytest.approx(ROUNDS * 0.01), 0.0, 0)
    assert totals[CAPPED] == (0.0, 0.0, 0)
    before = _connections(redis_db)  # totals() read through redis-py's pool: a connection of its own
    _operate(store, PARENT, 1)
    assert _connections(redis_db) == before  # the parent's own connection, still in step
    store.close()


# -- short-lived event loops: each one's connections closed when it shuts down ---------------------------
def _others(redis_db: Any) -> int:
    """Clients connected to Redis besides ``redis_db`` itself."""
    me = redis_db.client_id()
    return sum(1 for client in redis_db.client_list() if int(client["id"]) != me)


def _settled_others(redis_db: Any, expected: int) -> int:
    """``_others`` once it reaches ``expected`` (Redis sees a close a moment after it is sent), or as
    it is after 5 s."""
    deadline = time.monotonic() + 5
    while (count := _others(redis_db)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def test_a_loop_s_connections_are_closed_when_it_shuts_down(redis_db: Any, redis_url: str) -> None:
    """``asyncio.run`` per call (a sync app calling async code): an asyncio connection cannot outlive
    its loop, so the loop's shutdown closes it -- not the garbage collector, some time later, with a
    ResourceWarning (each loop's connection stayed open in Redis until then)."""
    store = RedisStore(redis_url, prefix="loops-test")

    async def call(i: int) -> None:
        assert await store.areserve(f"l{i}", WINDOWS, LIMITS, 0.01, NOW, 60) is None
        await store.asettle(f"l{i}", WINDOWS, 0.01)
        assert _others(redis_db) == before + 1  # the two operations shared this loop's one connection

    gc.collect()  # earlier tests' garbage warns on its own account
    before = _settled_others(redis_db, 0)  # and may hold connections a moment longer
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", ResourceWarning)
        for i in range(3):
            asyncio.run(call(i))
            assert _settled_others(redis_db, before) == before
        store.close()
        gc.collect()
    assert [str(w.message) for w in warned if port in str(w.message)] == []
    assert redis_db.hget("loops-test:spent", WINDOWS[0]) == b"0.03"
