"""The budget check around a call: reserve the worst case before it is sent, settle to the real cost
after, release on failure. Limits: per request, per day and month, per alias and per kind.

Each check is a ``StoreCall``: the decisions (the per-request limit, the windows, reading a refusal)
are made once, and the one store operation in the middle is either run in place (``run``, for sync
callers) or awaited (``arun``: the store's async form, which never blocks the event loop). The call
pipeline yields them as effects, so sync and async calls share every step but the wait.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from llmcfg.config import envrefs
from llmcfg.config.schema import Config
from llmcfg.exceptions import BudgetExceededError
from llmcfg.money.budget.spend import Spend, WindowSpend
from llmcfg.money.budget.stores import BudgetStore, LocalStore, Refusal
from llmcfg.money.budget.windows import Window, windows_for

__all__ = ["BudgetGuard", "Clock", "Reservation", "StoreCall"]

Clock = Callable[[], datetime]
T = TypeVar("T")


@dataclass(frozen=True)
class Reservation:
    """What a call holds in the ledger while in flight. ``kind`` and ``at`` (when it was reserved)
    let the settlement find the windows of the alias that really answered (a fallback)."""

    id: str
    alias: str
    windows: list[str]
    amount: float
    kind: str = ""
    at: datetime | None = None


class StoreCall(Generic[T]):
    """One store operation (``reserve``, ``settle``, ``release``) and what follows from its answer.
    ``run`` waits in place; ``arun`` awaits the store's async form (a store without one has its
    sync method run in a worker thread)."""

    __slots__ = ("args", "conclude", "name", "store")

    def __init__(
        self, store: BudgetStore, name: str, args: tuple[Any, ...], conclude: Callable[[Any], T]
    ) -> None:
        self.store, self.name, self.args, self.conclude = store, name, args, conclude

    def run(self) -> T:
        return self.conclude(getattr(self.store, self.name)(*self.args))

    async def arun(self) -> T:
        form = getattr(self.store, "a" + self.name, None)
        if form is None:
            return self.conclude(await asyncio.to_thread(getattr(self.store, self.name), *self.args))
        return self.conclude(await form(*self.args))


def _nothing(_: Any) -> None:
    return None


class _Windows:
    """The windows of one (alias, kind) for as long as they stay the same: until the next day."""

    __slots__ = ("keys", "limits", "names", "since", "until")

    def __init__(self, windows: list[Window], since: float) -> None:
        self.keys = [w.key for w in windows]
        self.limits = {w.key: w.limit for w in windows if w.limit is not None}
        self.names = {w.key: w.limit_name for w in windows}
        self.since = since
        self.until = min(w.resets_at for w in windows).timestamp()


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
        self._windows: dict[tuple[str, str], _Windows] = {}
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

    def _windows_of(self, alias: str, kind: str, now: datetime, stamp: float) -> _Windows:
        """The call's windows, worked out once per alias, kind and day (not on every call)."""
        known = self._windows.get((alias, kind))
        if known is None or not known.since <= stamp < known.until:
            known = self._windows[(alias, kind)] = _Windows(
                windows_for(self.settings, alias, kind, now), stamp
            )
        return known

    def reserve_call(self, alias: str, kind: str, estimate: float) -> StoreCall[Reservation]:
        """The reservation of ``estimate`` USD for a call: run or await it for the Reservation, or a
        BudgetExceededError naming the limit (and, for an ``Estimate``, what it assumed). A call over
        ``per_request_usd`` is refused here, before the store is asked."""
        basis = getattr(estimate, "basis", "")
        per_request = self.settings.per_request_usd
        if per_request is not None and estimate > per_request:
            raise BudgetExceededError(
                "per_request_usd", spent_usd=0.0, limit_usd=per_request, estimate_usd=estimate, basis=basis
            )
        now, stamp = self._now()
        windows = self._windows_of(alias, kind, now, stamp)
        reservation = Reservation(uuid.uuid4().hex, alias, windows.keys, estimate, kind, now)

        def conclude(refusal: Refusal | None) -> Reservation:
            if refusal is None:
                return reservation
            raise BudgetExceededError(
                windows.names[refusal.window],
                spent_usd=refusal.used,
                limit_usd=refusal.limit,
                estimate_usd=estimate,
                basis=basis,
            )

        args = (
            reservation.id,
            windows.keys,
            windows.limits,
            estimate,
            stamp,
            self.settings.reservation_ttl_s,
        )
        return StoreCall(self.store, "reserve", args, conclude)

    def settle_call(
        self, reservation: Reservation, actual_usd: float | None, answered: str | None = None
    ) -> StoreCall[None]:
        """Record the real cost; ``None`` (unknown) is counted as an unpriced call, never as $0.
        ``answered``: the alias that answered. When a fallback did, the cost is its spend: it goes
        into that alias's windows (of the day and month the call was reserved in), not the
        requested one's, so ``per_alias`` limits and ``spend()`` see what each alias really spent."""
        windows = reservation.windows
        if answered is not None and answered != reservation.alias and reservation.at is not None:
            windows = [w.key for w in windows_for(self.settings, answered, reservation.kind, reservation.at)]
        return StoreCall(self.store, "settle", (reservation.id, windows, actual_usd), _nothing)

    def release_call(self, reservation: Reservation) -> StoreCall[None]:
        return StoreCall(self.store, "release", (reservation.id,), _nothing)

    def reserve(self, alias: str, kind: str, estimate: float) -> Reservation:
        return self.reserve_call(alias, kind, estimate).run()

    def settle(self, reservation: Reservation, actual_usd: float | None, answered: str | None = None) -> None:
        self.settle_call(reservation, actual_usd, answered).run()

    def release(self, reservation: Reservation) -> None:
        self.release_call(reservation).run()

    async def areserve(self, alias: str, kind: str, estimate: float) -> Reservation:
        return await self.reserve_call(alias, kind, estimate).arun()

    async def asettle(
        self, reservation: Reservation, actual_usd: float | None, answered: str | None = None
    ) -> None:
        await self.settle_call(reservation, actual_usd, answered).arun()

    async def arelease(self, reservation: Reservation) -> None:
        await self.release_call(reservation).arun()

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
