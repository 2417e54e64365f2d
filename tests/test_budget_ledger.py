"""The budget ledgers' edges, on the real stores (SQLite in a temporary folder, a real redis-server):
what a broken ledger's error says, when a reservation stops counting, closing and using a store again,
the Redis key names, and a cancelled async reservation on Redis being released."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from llmcfg.exceptions import BudgetStoreError
from llmcfg.money.budget.redis_store import RedisStore
from llmcfg.money.budget.stores import BudgetStore, LocalStore, Refusal
from tests.redis_server import redis_server

NOW = 1_800_000_000.0
WINDOWS = ["total:day:d", "alias=a:day:d"]
LIMITS = {"total:day:d": 1.0}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_redis_is_named_with_the_reason_and_what_to_do() -> None:
    port = _closed_port()
    with pytest.raises(BudgetStoreError) as caught:
        RedisStore(f"redis://127.0.0.1:{port}/0").release("r1")
    assert str(caught.value) == (
        f"budget store redis://127.0.0.1:{port}/0: Redis did not answer (ConnectionError: Error 111 "
        f"connecting to 127.0.0.1:{port}. Connection refused.); check that Redis runs there and "
        "budgets.redis_url is right, or set budgets.store: local"
    )


def test_the_redis_password_is_hidden_wherever_it_shows_in_the_error() -> None:
    port = _closed_port()  # the password is the port's digits: redis-py's message contains it
    with pytest.raises(BudgetStoreError) as caught:
        RedisStore(f"redis://:{port}@127.0.0.1:{port}/0").release("r1")
    assert "(ConnectionError: Error 111 connecting to 127.0.0.1:***. Connection refused.)" in str(
        caught.value
    )
    assert caught.value.store == f"redis://:***@127.0.0.1:{port}/0"


def test_a_locked_ledger_says_so_and_how_long_it_waited(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "budget"), busy_timeout_s=0.2)
    store.totals(WINDOWS, NOW)  # the ledger exists
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(BudgetStoreError) as caught:
            store.reserve("r1", WINDOWS, LIMITS, 0.1, NOW, 60)
        assert time.monotonic() - started < 3  # its own busy timeout, not SQLite's default (5 s)
        assert str(caught.value) == (
            f"budget store {store.path}: the ledger stayed locked by another process for 0.2 s; find the "
            "process holding it (a stuck or suspended program using the same cache.dir), or give this "
            "program its own cache.dir"
        )
    finally:
        holder.close()


def test_a_ledger_that_cannot_be_opened_is_not_called_locked(tmp_path: Path) -> None:
    """An OSError naming a folder called 'locked' is still "cannot use", not "stayed locked"."""
    (tmp_path / "locked").write_text("a file where the ledger's folder should be")
    with pytest.raises(BudgetStoreError) as caught:
        LocalStore(str(tmp_path / "locked")).reserve("r1", WINDOWS, LIMITS, 0.1, NOW, 60)
    message = str(caught.value)
    assert "cannot use the ledger (FileExistsError: [Errno 17] File exists:" in message
    assert message.endswith(
        "; check that cache.dir is a writable folder on a local disk, or set budgets.store: redis"
    )
    assert "stayed locked" not in message


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BudgetStore]:
    if request.param == "local":
        opened: BudgetStore = LocalStore(str(tmp_path / "budget"))
    else:
        request.getfixturevalue("redis_db")
        opened = RedisStore(request.getfixturevalue("redis_url"), prefix="ledger-test")
    yield opened
    opened.close()


def test_a_reservation_stops_counting_exactly_at_its_expiry(store: BudgetStore) -> None:
    assert store.reserve("r1", WINDOWS, LIMITS, 0.8, NOW, 30) is None
    assert store.totals(WINDOWS, NOW + 29.5)["total:day:d"].reserved == pytest.approx(0.8)
    assert store.totals(WINDOWS, NOW + 30)["total:day:d"].reserved == 0.0
    assert store.reserve("r2", WINDOWS, LIMITS, 0.8, NOW + 29.5, 30) is not None  # still held
    assert store.reserve("r2", WINDOWS, LIMITS, 0.8, NOW + 30, 30) is None  # expired: its room is free


def test_a_closed_store_opens_again_when_used(store: BudgetStore) -> None:
    store.settle("r1", WINDOWS, 0.25)
    store.close()
    assert store.totals(WINDOWS, NOW)["total:day:d"].spent == pytest.approx(0.25)
    store.close()

    async def later(reservation_id: str) -> None:
        assert await store.areserve(reservation_id, WINDOWS, LIMITS, 0.25, NOW, 60) is None  # type: ignore[attr-defined]

    asyncio.run(later("r2"))
    store.close()
    asyncio.run(later("r3"))  # another event loop after close: a new async client
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.25), pytest.approx(0.5), 0)


def test_redis_keeps_the_ledger_under_llmcfg_budget_by_default(redis_url: str, redis_db: object) -> None:
    store = RedisStore(redis_url)
    store.reserve("r1", WINDOWS, LIMITS, 0.5, NOW, 60)
    store.settle("r2", WINDOWS, 0.1)
    store.settle("r3", WINDOWS, None)
    keys = sorted(key.decode() for key in redis_db.keys("*"))  # type: ignore[attr-defined]
    assert keys == ["llmcfg:budget:reservations", "llmcfg:budget:spent", "llmcfg:budget:unpriced"]
    store.close()


class ReplyHoldingRelay:
    """A TCP relay to the test's Redis on 127.0.0.1 that can hold back Redis's replies on the
    connections open at the moment (the network being slow to answer): requests still reach Redis
    and run there, their answers never come back."""

    def __init__(self, redis_url: str) -> None:
        self._target = ("127.0.0.1", int(urlsplit(redis_url).port or 0))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._flowing: list[threading.Event] = []
        self._cut: list[threading.Event] = []
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            flowing, cut = threading.Event(), threading.Event()
            flowing.set()
            self._flowing.append(flowing)
            self._cut.append(cut)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, flowing, cut), daemon=True).start()

    @staticmethod
    def _pump(
        source: socket.socket,
        sink: socket.socket,
        flowing: threading.Event | None,
        cut: threading.Event | None,
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if flowing is not None:
                    flowing.wait()
                if cut is not None and cut.is_set():
                    break
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def hold_replies(self) -> None:
        for flowing in self._flowing:
            flowing.clear()

    def cut_on_reply(self) -> None:
        """The connections open now are closed when Redis answers: the request ran, its answer is
        lost (a network that drops the connection at the wrong moment)."""
        for cut in self._cut:
            cut.set()

    def close(self) -> None:
        for flowing in self._flowing:
            flowing.set()
        for each in self._sockets:
            each.close()


@pytest.fixture
def relay(redis_url: str) -> Iterator[ReplyHoldingRelay]:
    opened = ReplyHoldingRelay(redis_url)
    yield opened
    opened.close()


async def _cancel_once_reserved(
    store: RedisStore, relay: ReplyHoldingRelay, redis_db: Any, prefix: str
) -> asyncio.Task[Any]:
    """An async reservation cancelled after Redis ran its script, its answer held back on the way:
    the cancel always comes between the two."""
    await store.areserve("warm-up", WINDOWS, LIMITS, 0.0, NOW, 60)  # the async client is connected
    await store.arelease("warm-up")  # (to the relay) and both scripts are loaded
    relay.hold_replies()
    task = asyncio.ensure_future(store.areserve("r1", WINDOWS, LIMITS, 0.5, NOW, 60))
    deadline = time.monotonic() + 10
    while not redis_db.hexists(f"{prefix}:reservations", "r1"):  # read past the relay
        assert time.monotonic() < deadline, "the reservation never reached Redis"
        await asyncio.sleep(0.005)
    # its answer is held: the task can only end cancelled. A cancel that comes while redis-py is
    # still inside asyncio.wait_for around the write is lost there (CPython 3.11): repeat it.
    while not task.done():
        assert time.monotonic() < deadline, "the reservation could not be cancelled"
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    return task


async def _others_done() -> None:
    """Until every other task on this loop (the release llmcfg started) has finished and been let go."""
    deadline = time.monotonic() + 10
    while asyncio.all_tasks() - {asyncio.current_task()}:
        assert time.monotonic() < deadline, "the release never finished"
        await asyncio.sleep(0.01)
    for _ in range(3):
        await asyncio.sleep(0)  # the done callbacks run
    gc.collect()


def test_a_cancelled_async_reservation_on_redis_is_released(relay: ReplyHoldingRelay, redis_db: Any) -> None:
    """The reservation's script ran in Redis, then the caller is cancelled before the answer came
    back: nobody will settle it, so llmcfg releases what it reserved, in a task of its own that
    ends cleanly (nothing reported to the loop's exception handler)."""
    store = RedisStore(relay.url, prefix="cancel-test")
    reported: list[dict[str, Any]] = []

    async def cancelled() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
        task = await _cancel_once_reserved(store, relay, redis_db, "cancel-test")
        assert task.cancelled()
        del task  # its traceback holds the release's task
        await _others_done()

    asyncio.run(cancelled())
    assert not redis_db.hexists("cancel-test:reservations", "r1")
    assert store.totals(WINDOWS, NOW)["total:day:d"].reserved == 0.0
    assert reported == []
    store.close()


def test_a_failed_release_after_a_cancel_is_quiet(relay: ReplyHoldingRelay, redis_db: Any) -> None:
    """Redis refuses the release that follows a cancelled reservation (the ledger's reservations
    key holds the wrong type): the caller sees only its CancelledError and nothing is reported to
    the loop's exception handler (the reservation would expire after its ttl)."""
    store = RedisStore(relay.url, prefix="refused-test")
    reported: list[dict[str, Any]] = []

    async def cancelled() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
        task = await _cancel_once_reserved(store, relay, redis_db, "refused-test")
        # the release is scheduled, not yet run: make Redis refuse it (WRONGTYPE)
        redis_db.delete("refused-test:reservations")
        redis_db.set("refused-test:reservations", "not a hash")
        assert task.cancelled()
        del task  # its traceback holds the release's task
        await _others_done()
        assert redis_db.get("refused-test:reservations") == b"not a hash"  # the release was refused

    asyncio.run(cancelled())
    assert reported == []
    store.close()


@pytest.mark.parametrize("driver", ["settle", "asettle"])
def test_a_settle_whose_answer_is_lost_is_counted_once(
    relay: ReplyHoldingRelay, redis_db: Any, driver: str
) -> None:
    """Redis ran the settle, the connection dropped before its answer came back: the store says so
    (BudgetStoreError) and never sends it again; a settle sent twice would count the cost twice."""
    store = RedisStore(relay.url, prefix="lost-test")

    async def settle(reservation_id: str) -> None:
        await store.asettle(reservation_id, WINDOWS, 0.25)

    def run(reservation_id: str) -> None:
        if driver == "settle":
            store.settle(reservation_id, WINDOWS, 0.25)
        else:
            asyncio.run(settle(reservation_id))

    async def both() -> None:  # one loop: its connection stays open between the two settles
        await settle("warm-up")
        relay.cut_on_reply()
        with pytest.raises(BudgetStoreError, match="Redis did not answer"):
            await settle("r1")

    if driver == "settle":
        run("warm-up")  # connected (to the relay) and the script loaded
        relay.cut_on_reply()
        with pytest.raises(BudgetStoreError, match="Redis did not answer"):
            run("r1")
    else:
        asyncio.run(both())
    assert float(redis_db.hget("lost-test:spent", "total:day:d")) == pytest.approx(0.5)  # 2 settles
    run("r2")  # a new connection: the store works again
    assert float(redis_db.hget("lost-test:spent", "total:day:d")) == pytest.approx(0.75)
    store.close()


def test_an_unreachable_redis_says_the_same_to_async_calls() -> None:
    port = _closed_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BudgetStoreError) as caught:
        asyncio.run(store.arelease("r1"))
    assert str(caught.value).startswith(
        f"budget store redis://127.0.0.1:{port}/0: Redis did not answer (ConnectionError: Error "
    )
    assert f"connecting to 127.0.0.1:{port}" in str(caught.value)
    assert str(caught.value).endswith(
        "; check that Redis runs there and budgets.redis_url is right, or set budgets.store: local"
    )


def test_async_calls_share_one_connection_per_event_loop(redis_url: str, redis_db: object) -> None:
    store = RedisStore(redis_url, prefix="loop-test")

    def connections() -> int:
        return int(redis_db.info("stats")["total_connections_received"])  # type: ignore[attr-defined]

    async def calls(first: int) -> None:
        for index in range(first, first + 4):
            assert await store.areserve(f"r{index}", WINDOWS, LIMITS, 0.1, NOW, 60) is None
            await store.asettle(f"r{index}", WINDOWS, 0.1)

    before = connections()
    asyncio.run(calls(0))
    assert connections() - before == 1
    asyncio.run(calls(4))  # a new loop: a new client (the first loop's connection died with it)
    assert connections() - before == 2
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.8), 0.0, 0)
    store.close()


def test_a_refusal_reads_the_same_from_a_client_that_decodes_answers(
    redis_url: str, redis_db: object
) -> None:
    """``?decode_responses=True`` in the URL: redis-py hands back str instead of bytes."""
    store = RedisStore(redis_url + "?decode_responses=True", prefix="decoded-test")
    assert store.reserve("r1", WINDOWS, LIMITS, 0.6, NOW, 60) is None
    refusal = store.reserve("r2", WINDOWS, LIMITS, 0.6, NOW, 60)
    assert refusal is not None
    assert (refusal.window, refusal.limit, refusal.used) == ("total:day:d", 1.0, pytest.approx(0.6))
    assert store.totals(WINDOWS, NOW)["alias=a:day:d"] == (0.0, pytest.approx(0.6), 0)
    store.close()


def test_async_operations_on_a_locked_ledger_are_budget_store_errors(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "budget"), busy_timeout_s=0.2)
    store.totals(WINDOWS, NOW)  # the ledger exists
    holder = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")

    async def each() -> list[str]:
        messages = []
        for operation in (
            store.areserve("r1", WINDOWS, LIMITS, 0.1, NOW, 60),
            store.asettle("r1", WINDOWS, 0.1),
            store.arelease("r1"),
        ):
            with pytest.raises(BudgetStoreError) as caught:
                await operation
            assert caught.value.__context__ is None  # the raw sqlite3 error is not chained
            messages.append(str(caught.value))
        return messages

    try:
        for message in asyncio.run(each()):
            assert message.startswith(
                f"budget store {store.path}: the ledger stayed locked by another process"
            )
    finally:
        holder.close()


def test_an_async_reservation_while_another_thread_writes_is_made_not_skipped(tmp_path: Path) -> None:
    """A thread of this process is inside a reservation (waiting for another process's lock) when
    an async call reserves: the async one waits its turn off the loop and is recorded too."""
    import threading
    import time

    store = LocalStore(str(tmp_path / "budget"))
    store.totals(WINDOWS, NOW)
    holder = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's transaction
    writer = threading.Thread(target=store.reserve, args=("thread", WINDOWS, LIMITS, 0.25, NOW, 60))
    writer.start()
    time.sleep(0.2)  # the thread now holds the store and waits for the file lock
    threading.Timer(0.4, holder.rollback).start()
    ticks: list[float] = []

    async def reserve_while_ticking() -> Refusal | None:
        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        answer = await store.areserve("async", WINDOWS, LIMITS, 0.5, NOW, 60)
        ticking.cancel()
        return answer

    start = time.perf_counter()
    assert asyncio.run(reserve_while_ticking()) is None
    waited = time.perf_counter() - start
    writer.join()
    holder.close()
    assert store.totals(WINDOWS, NOW)["total:day:d"].reserved == pytest.approx(0.75)  # both made
    assert len(ticks) >= 0.5 * waited / 0.01, f"the loop stalled: {len(ticks)} ticks in {waited:.2f} s"


def test_an_sqlite_error_that_is_not_a_lock_is_not_called_locked(tmp_path: Path) -> None:
    (tmp_path / "budget" / "budget.sqlite3").mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(BudgetStoreError) as caught:
        LocalStore(str(tmp_path / "budget")).reserve("r1", WINDOWS, LIMITS, 0.1, NOW, 60)
    assert "cannot use the ledger (OperationalError: unable to open database file)" in str(caught.value)


def test_totals_of_no_windows_is_empty(store: BudgetStore) -> None:
    store.reserve("r1", WINDOWS, LIMITS, 0.5, NOW, 60)
    assert store.totals([], NOW) == {}


@pytest.mark.parametrize("form", ["sync", "async"])
def test_a_settle_the_ledger_refuses_is_rolled_back_and_the_ledger_stays_usable(
    form: str, tmp_path: Path
) -> None:
    """SQLite refuses to store a NaN cost (NOT NULL): the settle is a BudgetStoreError, undone as a
    whole (its reservation is still held, nothing spent), and the next operations work."""
    store = LocalStore(str(tmp_path / "budget"))

    async def each(operation: Any) -> Any:
        return await operation

    def run(name: str, *args: Any) -> Any:
        if form == "sync":
            return getattr(store, name)(*args)
        return asyncio.run(each(getattr(store, "a" + name)(*args)))

    assert run("reserve", "r1", WINDOWS, LIMITS, 0.3, NOW, 60) is None
    with pytest.raises(BudgetStoreError) as caught:
        run("settle", "r1", WINDOWS, float("nan"))
    assert "cannot use the ledger (IntegrityError: NOT NULL constraint failed: spent.usd)" in str(
        caught.value
    )
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (0.0, pytest.approx(0.3), 0)  # undone
    assert run("reserve", "r2", WINDOWS, LIMITS, 0.7, NOW, 60) is None
    run("settle", "r1", WINDOWS, 0.2)
    run("release", "r2")
    assert store.totals(WINDOWS, NOW)["total:day:d"] == (pytest.approx(0.2), 0.0, 0)
    store.close()


def _held_ids(store: LocalStore) -> set[str]:
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        return {row[0] for row in db.execute("SELECT id FROM held")}


@pytest.mark.parametrize("form", ["sync", "async"])
def test_expired_reservations_are_deleted_from_the_file_at_most_once_a_minute(
    form: str, tmp_path: Path
) -> None:
    """Expired reservations stop counting at once (tested above); a reservation deletes them from the
    file when the last purge is a minute away, forward or back (a clock set back), so the table
    stays small without a DELETE on every call."""
    store = LocalStore(str(tmp_path / "budget"))
    other = LocalStore(store.directory)  # another process on the same ledger: its own purge clock

    async def each(operation: Any) -> Any:
        return await operation

    def reserve(on: LocalStore, reservation_id: str, now: float, ttl_s: float) -> None:
        if form == "sync":
            assert on.reserve(reservation_id, WINDOWS, {}, 0.1, now, ttl_s) is None
        else:
            assert asyncio.run(each(on.areserve(reservation_id, WINDOWS, {}, 0.1, now, ttl_s))) is None

    reserve(store, "a", NOW, 10)  # the first reservation purges (nothing to delete)
    reserve(store, "b", NOW + 59.9, 100)  # "a" has expired, but the last purge is 59.9 s ago
    assert _held_ids(store) == {"a", "b"}
    reserve(store, "c", NOW + 60, 100)  # a minute: "a" is deleted
    assert _held_ids(store) == {"b", "c"}
    reserve(other, "old", NOW - 200, 10)  # expired long ago
    reserve(store, "d", NOW, 100)  # the clock set back a minute: purges again
    assert _held_ids(store) == {"b", "c", "d"}
    store.close()
    other.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@127.0.0.1:6380/2", "redis://user:***@127.0.0.1:6380/2"),  # the user stays
        ("redis://:pw@ledger.internal/0", "redis://:***@ledger.internal/0"),  # no port: none added
        ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),  # no host at all
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),  # no password: as written
    ],
)
def test_the_redis_url_is_shown_with_only_the_password_hidden(url: str, shown: str) -> None:
    assert RedisStore(url).url == shown  # opening does not connect


def test_a_new_ledger_locked_while_it_is_set_up_is_opened_once_the_lock_goes(tmp_path: Path) -> None:
    """Switching a new ledger to WAL is not covered by SQLite's busy timeout: another process's
    lock on the file at that moment ("database is locked" at once) is waited out, then the ledger
    works; a lock held past the busy timeout is the "stayed locked" error."""
    folder = tmp_path / "budget"
    folder.mkdir()
    holder = sqlite3.connect(folder / "budget.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # a new file, another process setting it up
    threading.Timer(0.3, holder.rollback).start()
    store = LocalStore(str(folder), busy_timeout_s=5)
    started = time.monotonic()
    assert store.reserve("r1", WINDOWS, LIMITS, 0.5, NOW, 60) is None
    assert time.monotonic() - started >= 0.25  # it did wait for the lock
    assert store.totals(WINDOWS, NOW)["total:day:d"].reserved == pytest.approx(0.5)
    store.close()
    holder.close()

    other = tmp_path / "other"
    other.mkdir()
    holder = sqlite3.connect(other / "budget.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    later = threading.Timer(1.0, holder.rollback)  # gone after the busy timeout: too late
    later.start()
    try:
        with pytest.raises(BudgetStoreError, match=r"stayed locked by another process for 0\.2 s"):
            LocalStore(str(other), busy_timeout_s=0.2).reserve("r1", WINDOWS, LIMITS, 0.5, NOW, 60)
    finally:
        later.join()
        holder.close()


def test_a_ledger_waits_a_minute_for_another_process_by_default(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "budget"))
    assert store.busy_timeout_s == 60.0
    store.close()  # never used: nothing to close, no error


def test_without_the_redis_package_the_redis_ledger_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis were not installed
    with pytest.raises(ImportError) as caught:
        RedisStore("redis://127.0.0.1:6379/0")
    assert str(caught.value) == "budgets.store: redis needs the redis package: pip install redis"
    assert caught.value.__suppress_context__  # the failed import is not shown as its context
