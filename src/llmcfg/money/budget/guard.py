"""The budget check around a call: reserve the worst case before it is sent, settle to the real cost
after, release on failure. Limits: per request, per day and month, per alias and per kind.

The stores block (an SQLite write lock, a Redis round trip): async callers run ``reserve``,
``settle`` and ``release`` through ``areserve``/``asettle``/``arelease``, which do the same work in a
worker thread, so a lock held by another process never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from llmcfg.config import envrefs
from llmcfg.config.schema import Config
from llmcfg.exceptions import BudgetExceededError
from llmcfg.money.budget.spend import Spend, WindowSpend
from llmcfg.money.budget.stores import BudgetStore, LocalStore
from llmcfg.money.budget.windows import Window, windows_for

__all__ = ["BudgetGuard", "Clock", "Reservation"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Reservation:
    id: str
    alias: str
    windows: list[str]
    amount: float


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class BudgetGuard:
    """Budget checks for one config. ``clock`` (aware datetimes) and ``store`` are injectable."""

    def __init__(
        self, config: Config, *, clock: Clock | None = None, store: BudgetStore | None = None
    ) -> None:
        self._config = config
        self.settings = config.budgets
        self.clock = clock or _utc_now
        self._store = store
        self._lock = threading.Lock()
        self.active = config.budgets.active

    @property
    def store(self) -> BudgetStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open_store()
        return self._store

    def _open_store(self) -> BudgetStore:
        if self.settings.store == "redis":
            from llmcfg.money.budget.redis_store import RedisStore

            url = envrefs.resolve(self.settings.redis_url or "redis://127.0.0.1:6379/0")
            return RedisStore(url)
        return LocalStore(self._config.resolve_path(self._config.cache.dir + "/budget"))

    def _now(self) -> tuple[datetime, float]:
        now = self.clock()
        return now, now.timestamp()

    def reserve(self, alias: str, kind: str, estimate: float) -> Reservation:
        """Reserve ``estimate`` USD for a call, or raise BudgetExceededError naming the limit (and,
        for an ``Estimate``, what it assumed)."""
        basis = getattr(estimate, "basis", "")
        per_request = self.settings.per_request_usd
        if per_request is not None and estimate > per_request:
            raise BudgetExceededError(
                "per_request_usd", spent_usd=0.0, limit_usd=per_request, estimate_usd=estimate, basis=basis
            )
        now, stamp = self._now()
        windows = windows_for(self.settings, alias, kind, now)
        limits = {w.key: w.limit for w in windows if w.limit is not None}
        reservation = Reservation(uuid.uuid4().hex, alias, [w.key for w in windows], estimate)
        refusal = self.store.reserve(
            reservation.id, reservation.windows, limits, estimate, stamp, self.settings.reservation_ttl_s
        )
        if refusal is not None:
            name = next(w.limit_name for w in windows if w.key == refusal.window)
            raise BudgetExceededError(
                name, spent_usd=refusal.used, limit_usd=refusal.limit, estimate_usd=estimate, basis=basis
            )
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float | None) -> None:
        """Record the real cost; ``None`` (unknown) is counted as an unpriced call, never as $0."""
        self.store.settle(reservation.id, reservation.windows, actual_usd)

    def release(self, reservation: Reservation) -> None:
        self.store.release(reservation.id)

    async def areserve(self, alias: str, kind: str, estimate: float) -> Reservation:
        return await asyncio.to_thread(self.reserve, alias, kind, estimate)

    async def asettle(self, reservation: Reservation, actual_usd: float | None) -> None:
        await asyncio.to_thread(self.settle, reservation, actual_usd)

    async def arelease(self, reservation: Reservation) -> None:
        await asyncio.to_thread(self.release, reservation)

    def spend(self) -> Spend:
        """Today's and this month's windows (total, per alias, per kind) with a limit or any spend."""
        now, stamp = self._now()
        windows: dict[str, Window] = {}
        for alias in self._config.models:
            for kind in ("chat", "vision", "ocr", "image", "embed"):
                for window in windows_for(self.settings, alias, kind, now):
                    windows.setdefault(window.key, window)
        totals = self.store.totals(list(windows), stamp)
        rows = []
        for key, window in windows.items():
            spent, reserved, unpriced = totals[key]
            if spent or reserved or unpriced or window.limit is not None or window.scope == "total":
                rows.append(
                    WindowSpend(
                        key,
                        window.scope,
                        window.period,
                        spent,
                        reserved,
                        window.limit,
                        window.resets_at,
                        unpriced,
                    )
                )
        return Spend(rows)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
