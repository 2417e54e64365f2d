"""The budget check around a call: reserve the worst case before it is sent, settle to the real cost
after, release on failure. Limits: per request, per day and month, per alias and per kind."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from llmcfg.config import envrefs
from llmcfg.config.schema import Config
from llmcfg.exceptions import BudgetExceededError
from llmcfg.money.budget.stores import BudgetStore, LocalStore
from llmcfg.money.budget.windows import windows_for

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
        budgets = config.budgets
        self.active = any(
            value is not None for value in (budgets.per_request_usd, budgets.daily_usd, budgets.monthly_usd)
        ) or bool(budgets.per_alias or budgets.per_kind)

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
        """Reserve ``estimate`` USD for a call, or raise BudgetExceededError naming the limit."""
        per_request = self.settings.per_request_usd
        if per_request is not None and estimate > per_request:
            raise BudgetExceededError(
                "per_request_usd", spent_usd=0.0, limit_usd=per_request, estimate_usd=estimate
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
                name, spent_usd=refusal.used, limit_usd=refusal.limit, estimate_usd=estimate
            )
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> None:
        self.store.settle(reservation.id, reservation.windows, actual_usd)

    def release(self, reservation: Reservation) -> None:
        self.store.release(reservation.id)

    def spend(self) -> dict[str, dict[str, float | None]]:
        """Spent, reserved and limit of today's and this month's windows (total, per alias, per kind)."""
        now, stamp = self._now()
        rows: dict[str, float | None] = {}
        for alias in self._config.models:
            for kind in ("chat", "vision", "ocr", "image", "embed"):
                for window in windows_for(self.settings, alias, kind, now):
                    rows.setdefault(window.key, window.limit)
        totals = self.store.totals(list(rows), stamp)
        report: dict[str, dict[str, float | None]] = {}
        for key, limit in rows.items():
            spent, reserved = totals[key]
            if spent or reserved or limit is not None or key.startswith("total:"):
                report[key] = {"spent_usd": spent, "reserved_usd": reserved, "limit_usd": limit}
        return report

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
