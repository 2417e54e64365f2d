"""Budget stores: one interface, atomic reserve/settle/release.

``LocalStore`` keeps the ledger in SQLite through diskcache; ``transact`` takes SQLite's write lock
(BEGIN IMMEDIATE), so a check-and-reserve is atomic across every process on the machine. Reservations
carry an expiry, so one left by a crashed process stops counting after ``ttl_s``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import diskcache

__all__ = ["BudgetStore", "LocalStore", "Refusal"]

_EPSILON = 1e-12  # float sums: a call that exactly fills the limit fits


@dataclass(frozen=True)
class Refusal:
    """Why a reservation did not fit: the window, its limit, and what was spent or reserved in it."""

    window: str
    limit: float
    used: float


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

    def settle(self, reservation_id: str, windows: list[str], actual: float) -> None:
        """Drop the reservation and record ``actual`` as spent in ``windows`` (also if it had expired)."""

    def release(self, reservation_id: str) -> None:
        """Drop the reservation: the call was not made or failed."""

    def totals(self, windows: list[str], now: float) -> dict[str, tuple[float, float]]:
        """(spent, reserved) per window."""

    def close(self) -> None: ...


def _live(reservations: dict[str, Any], now: float) -> dict[str, Any]:
    return {rid: entry for rid, entry in reservations.items() if entry["expires"] > now}


def _reserved_in(reservations: dict[str, Any], window: str) -> float:
    return float(sum(entry["amount"] for entry in reservations.values() if window in entry["windows"]))


class LocalStore:
    """The ledger in ``directory`` (SQLite via diskcache), safe across processes on one machine."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self._cache = diskcache.Cache(directory, timeout=60)

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        with self._cache.transact(retry=True):
            reservations = _live(self._cache.get("reservations", {}), now)
            for window, limit in limits.items():
                used = float(self._cache.get(("spent", window), 0.0)) + _reserved_in(reservations, window)
                if used + amount > limit + _EPSILON:
                    self._cache.set("reservations", reservations, retry=True)
                    return Refusal(window, limit, used)
            reservations[reservation_id] = {"windows": windows, "amount": amount, "expires": now + ttl_s}
            self._cache.set("reservations", reservations, retry=True)
        return None

    def settle(self, reservation_id: str, windows: list[str], actual: float) -> None:
        with self._cache.transact(retry=True):
            reservations = self._cache.get("reservations", {})
            reservations.pop(reservation_id, None)
            self._cache.set("reservations", reservations, retry=True)
            for window in windows:
                self._cache.set(
                    ("spent", window), float(self._cache.get(("spent", window), 0.0)) + actual, retry=True
                )

    def release(self, reservation_id: str) -> None:
        with self._cache.transact(retry=True):
            reservations = self._cache.get("reservations", {})
            if reservations.pop(reservation_id, None) is not None:
                self._cache.set("reservations", reservations, retry=True)

    def totals(self, windows: list[str], now: float) -> dict[str, tuple[float, float]]:
        reservations = _live(self._cache.get("reservations", {}), now)
        return {
            w: (float(self._cache.get(("spent", w), 0.0)), _reserved_in(reservations, w)) for w in windows
        }

    def close(self) -> None:
        self._cache.close()
