"""Budget stores: one interface, atomic reserve/settle/release.

``LocalStore`` keeps the ledger in SQLite (the embedded database diskcache also uses) under
``cache.dir``; ``RedisStore`` in Redis. Reservations carry an expiry, so one left by a crashed process
stops counting after ``ttl_s``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from llmcfg.exceptions import BudgetStoreError

__all__ = ["BudgetStore", "LocalStore", "Refusal", "WindowTotals"]

_EPSILON = 1e-12  # float sums: a call that exactly fills the limit fits
_BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction
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


class LocalStore:
    """The ledger in ``directory``/budget.sqlite3, safe across processes on one machine.

    Plain SQLite (WAL): a reservation is one ``BEGIN IMMEDIATE`` transaction, which takes the
    database's write lock, so check-and-reserve cannot interleave with another process's.
    """

    def __init__(self, directory: str, *, busy_timeout_s: float = _BUSY_TIMEOUT_S) -> None:
        """``busy_timeout_s``: how long a reservation waits for another process's transaction
        before giving up with BudgetStoreError."""
        self.directory = directory
        self.path = os.path.join(directory, "budget.sqlite3")
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _trouble(self, error: Exception) -> BudgetStoreError:
        """The error of a ledger that cannot be used, naming the file and what to do."""
        if "locked" in str(error) or "busy" in str(error):
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
            self._connection, self._pid = self._open(), os.getpid()
        return self._connection

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

    def _reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        with self._transaction() as db:
            db.execute("DELETE FROM held WHERE expires <= ?", (now,))
            for window, limit in limits.items():
                used = db.execute(_USED, (window, window)).fetchone()[0]
                if used + amount > limit + _EPSILON:
                    return Refusal(window, limit, float(used))
            db.executemany(
                "INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?)",
                [(reservation_id, window, amount, now + ttl_s) for window in windows],
            )
        return None

    def _settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        with self._transaction() as db:
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

    def _release(self, reservation_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM held WHERE id = ?", (reservation_id,))

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

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        return self._guarded(lambda: self._reserve(reservation_id, windows, limits, amount, now, ttl_s))

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        self._guarded(lambda: self._settle(reservation_id, windows, actual))

    def release(self, reservation_id: str) -> None:
        self._guarded(lambda: self._release(reservation_id))

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        return self._guarded(lambda: self._totals(windows, now))

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spent (window TEXT PRIMARY KEY, usd REAL NOT NULL);
CREATE TABLE IF NOT EXISTS unpriced (window TEXT PRIMARY KEY, calls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held (id TEXT, window TEXT, amount REAL, expires REAL, PRIMARY KEY (id, window));
CREATE INDEX IF NOT EXISTS held_by_window ON held (window);
"""
_USED = """
SELECT COALESCE((SELECT usd FROM spent WHERE window = ?), 0)
     + COALESCE((SELECT SUM(amount) FROM held WHERE window = ?), 0)
"""
