"""Budget stores: one interface, atomic reserve/settle/release.

``LocalStore`` keeps the ledger in SQLite (the embedded database diskcache also uses) under
``cache.dir``; ``RedisStore`` in Redis. Reservations carry an expiry, so one left by a crashed process
stops counting after ``ttl_s``.

Each writing operation has an async form (``areserve``, ``asettle``, ``arelease``) for calls made on
an event loop: the same work, waiting without blocking the loop.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, NamedTuple, Protocol, TypeVar

from llmcfg.exceptions import BudgetStoreError

__all__ = ["BudgetStore", "LocalStore", "Refusal", "WindowTotals"]

_EPSILON = 1e-12  # float sums: a call that exactly fills the limit fits
_BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction
_PURGE_EVERY_S = 60.0  # expired reservations are ignored at once, deleted this often
T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """Why a reservation did not fit: the window, its limit, and what was spent or reserved in it."""

    window: str
    limit: float
    used: float


class WindowTotals(NamedTuple):
    """What one window holds: USD spent (known costs), USD reserved by calls in flight, and how many
    calls were made with no known cost (``budgets.unpriced: allow``): never added as $0."""

    spent: float
    reserved: float
    unpriced: int = 0


class BudgetStore(Protocol):
    """What a ledger does. A store without the async forms still works for async calls: its sync
    methods are then run in a worker thread."""

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        """Reserve ``amount`` in every window unless one of ``limits`` would be passed."""

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        """Drop the reservation and record ``actual`` as spent in ``windows`` (also if it had expired);
        ``None`` (unknown cost) counts one unpriced call instead."""

    def release(self, reservation_id: str) -> None:
        """Drop the reservation: the call was not made or failed."""

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        """Spent, reserved and unpriced calls per window."""

    def close(self) -> None: ...


def _busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _reserve_in(
    db: sqlite3.Connection,
    reservation_id: str,
    windows: list[str],
    limits: dict[str, float],
    amount: float,
    now: float,
    ttl_s: float,
    purge: bool,
) -> Refusal | None:
    if purge:  # expired reservations (a crashed process's) no longer count; this keeps the table small
        db.execute("DELETE FROM held WHERE expires <= ?", (now,))
    if limits:
        for window, used in db.execute(_used(len(limits)), (*limits, now)):
            if used + amount > limits[window] + _EPSILON:
                return Refusal(window, limits[window], float(used))
    db.executemany(
        "INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?)",
        [(reservation_id, window, amount, now + ttl_s) for window in windows],
    )
    return None


def _settle_in(db: sqlite3.Connection, reservation_id: str, windows: list[str], actual: float | None) -> None:
    db.execute("DELETE FROM held WHERE id = ?", (reservation_id,))
    if actual is None:
        db.executemany(
            "INSERT INTO unpriced VALUES (?, 1) ON CONFLICT(window) DO UPDATE SET calls = calls + 1",
            [(window,) for window in windows],
        )
        return
    db.executemany(
        "INSERT INTO spent VALUES (?, ?) ON CONFLICT(window) DO UPDATE SET usd = usd + excluded.usd",
        [(window, actual) for window in windows],
    )


def _release_in(db: sqlite3.Connection, reservation_id: str) -> None:
    db.execute("DELETE FROM held WHERE id = ?", (reservation_id,))


class LocalStore:
    """The ledger in ``directory``/budget.sqlite3, safe across processes on one machine.

    Plain SQLite (WAL): every write is one ``BEGIN IMMEDIATE`` transaction, which takes the
    database's write lock, so check-and-reserve cannot interleave with another process's.

    The async forms first try the transaction at once, on the event loop, without waiting for the
    lock (a busy timeout of 0): when nobody else writes (the common case) that costs what the sync
    call costs, with no thread hop. When another process or thread holds the lock, they wait for it
    in a worker thread instead, so a held lock never stalls the loop.
    """

    def __init__(self, directory: str, *, busy_timeout_s: float = _BUSY_TIMEOUT_S) -> None:
        """``busy_timeout_s``: how long a write waits for another process's transaction before
        giving up with BudgetStoreError."""
        self.directory = directory
        self.path = os.path.join(directory, "budget.sqlite3")
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None  # waits up to busy_timeout_s for the lock
        self._quick: sqlite3.Connection | None = None  # never waits: for the event loop
        self._pid = 0
        self._purged_at = float("-inf")

    def _trouble(self, error: Exception) -> BudgetStoreError:
        """The error of a ledger that cannot be used, naming the file and what to do."""
        if isinstance(error, sqlite3.OperationalError) and _busy(error):
            return BudgetStoreError(
                self.path,
                f"the ledger stayed locked by another process for {self.busy_timeout_s:g} s",
                "find the process holding it (a stuck or suspended program using the same cache.dir), "
                "or give this program its own cache.dir",
            )
        return BudgetStoreError(
            self.path,
            f"cannot use the ledger ({type(error).__name__}: {error})",
            "check that cache.dir is a writable folder on a local disk, or set budgets.store: redis",
        )

    def _guarded(self, work: Callable[[], T]) -> T:
        """``work`` with SQLite's and the file system's errors turned into BudgetStoreError (raised
        outside the except clause: the raw error is not its context)."""
        try:
            return work()
        except (sqlite3.Error, OSError) as error:
            failure = self._trouble(error)
        raise failure

    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():  # never share a connection with a fork
            os.makedirs(self.directory, exist_ok=True)
            self._connection, self._quick = self._open(), self._open()
            self._quick.execute("PRAGMA busy_timeout = 0")
            self._pid = os.getpid()
        return self._connection

    def _purge_due(self, now: float) -> bool:
        if abs(now - self._purged_at) < _PURGE_EVERY_S:
            return False
        self._purged_at = now
        return True

    def _open(self) -> sqlite3.Connection:
        """Connect and set up. Switching a new database to WAL is not covered by SQLite's busy
        timeout: several processes opening the ledger for the first time at once get "database is
        locked" at once, so the setup is retried (for as long as the busy timeout would wait)."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
                return connection
            except sqlite3.OperationalError as error:
                connection.close()
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.005, 0.05))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _write(self, body: Callable[..., T], *args: Any) -> T:
        """``body(db, *args)`` in one transaction, waiting (up to the busy timeout) for the lock."""
        with self._transaction() as db:
            return body(db, *args)

    def _write_at_once(self, body: Callable[..., T], *args: Any) -> tuple[bool, T | None]:
        """``(True, body(db, *args))`` done in one transaction if the ledger is free right now;
        ``(False, None)``, nothing done, if this must wait: another thread or process holds the
        lock, or the ledger is not open yet (opening may wait for other processes)."""
        if not self._lock.acquire(blocking=False):
            return False, None
        try:
            db = self._quick
            if db is None or self._pid != os.getpid():
                return False, None
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _busy(error):
                    return False, None
                raise
            try:
                result = body(db, *args)
                db.execute("COMMIT")
            except BaseException as error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(error, sqlite3.OperationalError) and _busy(error):
                    return False, None
                raise
            return True, result
        finally:
            self._lock.release()

    async def _awrite(self, body: Callable[..., T], *args: Any, undo: str | None = None) -> T:
        """``_write`` for the event loop: at once when the ledger is free, else in a worker thread.
        Cancelled while the thread works, the work still finishes (a settle is never lost); for a
        reservation (``undo``: its id) it is then released, since nobody will settle it."""
        done, result = self._guarded(partial(self._write_at_once, body, *args))
        if done:
            return result  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(None, self._guarded, partial(self._write, body, *args))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            work.add_done_callback(partial(self._after_cancel, loop, undo))
            raise

    def _after_cancel(self, loop: asyncio.AbstractEventLoop, undo: str | None, work: Any) -> None:
        if not work.cancelled() and work.exception() is None and undo is not None:
            loop.run_in_executor(None, self._guarded, partial(self._write, _release_in, undo))

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        purge = self._purge_due(now)
        return self._guarded(
            partial(self._write, _reserve_in, reservation_id, windows, limits, amount, now, ttl_s, purge)
        )

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        self._guarded(partial(self._write, _settle_in, reservation_id, windows, actual))

    def release(self, reservation_id: str) -> None:
        self._guarded(partial(self._write, _release_in, reservation_id))

    async def areserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        purge = self._purge_due(now)
        return await self._awrite(
            _reserve_in, reservation_id, windows, limits, amount, now, ttl_s, purge, undo=reservation_id
        )

    async def asettle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        await self._awrite(_settle_in, reservation_id, windows, actual)

    async def arelease(self, reservation_id: str) -> None:
        await self._awrite(_release_in, reservation_id)

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        return self._guarded(partial(self._totals, windows, now))

    def _totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        with self._lock:
            db = self._db()
            result = {}
            for window in windows:
                spent = db.execute("SELECT usd FROM spent WHERE window = ?", (window,)).fetchone()
                held = db.execute(
                    "SELECT COALESCE(SUM(amount), 0) FROM held WHERE window = ? AND expires > ?",
                    (window, now),
                ).fetchone()
                unpriced = db.execute("SELECT calls FROM unpriced WHERE window = ?", (window,)).fetchone()
                result[window] = WindowTotals(
                    float(spent[0]) if spent else 0.0, float(held[0]), int(unpriced[0]) if unpriced else 0
                )
            return result

    def close(self) -> None:
        with self._lock:
            for connection in (self._connection, self._quick):
                if connection is not None:
                    connection.close()
            self._connection = self._quick = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spent (window TEXT PRIMARY KEY, usd REAL NOT NULL);
CREATE TABLE IF NOT EXISTS unpriced (window TEXT PRIMARY KEY, calls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held (id TEXT, window TEXT, amount REAL, expires REAL, PRIMARY KEY (id, window));
CREATE INDEX IF NOT EXISTS held_by_window ON held (window);
"""


@lru_cache(maxsize=64)
def _used(count: int) -> str:
    """What is spent or reserved (unexpired) in each of ``count`` windows, one query for all."""
    keys = ", ".join(["(?)"] * count)
    return (
        f"WITH w(k) AS (VALUES {keys}) SELECT k, "
        "COALESCE((SELECT usd FROM spent WHERE window = k), 0) "
        "+ COALESCE((SELECT SUM(amount) FROM held WHERE window = k AND expires > ?), 0) FROM w"
    )
