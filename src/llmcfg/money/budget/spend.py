"""``llm.spend()``: where each budget window stands, as typed rows that are easy to show.

A ``Spend`` is a read-only mapping from window key (``total:day:2026-11-25``) to ``WindowSpend``;
each row also answers ``row["spent_usd"]`` as the plain dicts of earlier versions did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["Spend", "WindowSpend"]


@dataclass(frozen=True)
class WindowSpend:
    """One window: ``scope`` is ``total``, ``alias=<name>`` or ``kind=<kind>``; ``period`` is ``day``
    or ``month``; ``unpriced_calls`` were made with no known cost (``budgets.unpriced: allow``) and
    are not in ``spent_usd``: the window's real spend is higher by an unknown amount."""

    key: str
    scope: str
    period: str
    spent_usd: float
    reserved_usd: float
    limit_usd: float | None
    resets_at: datetime
    unpriced_calls: int = 0

    @property
    def remaining_usd(self) -> float | None:
        """What may still be reserved before the limit (None: no limit)."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)

    def __getitem__(self, name: str) -> Any:  # backward compatible: spend[key]["spent_usd"]
        if name == "remaining_usd":
            return self.remaining_usd
        return asdict(self)[name]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "remaining_usd": self.remaining_usd, "resets_at": self.resets_at.isoformat()}

    def __str__(self) -> str:
        spent = f"${self.spent_usd:.4f}" + (
            f" + ? ({self.unpriced_calls} unpriced)" if self.unpriced_calls else ""
        )
        limit = (
            "no limit"
            if self.limit_usd is None
            else f"of ${self.limit_usd:.2f}, ${self.remaining_usd:.4f} left"
        )
        reserved = f", ${self.reserved_usd:.4f} reserved" if self.reserved_usd else ""
        return f"{self.key}: {spent} spent{reserved} {limit}; resets {self.resets_at:%Y-%m-%d %H:%M %Z}"


class Spend(Mapping[str, WindowSpend]):
    """Every window with a limit or any spend, by key; ``day`` and ``month`` are the totals'."""

    def __init__(self, rows: list[WindowSpend]) -> None:
        self._rows = {row.key: row for row in rows}

    def __getitem__(self, key: str) -> WindowSpend:
        return self._rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _total(self, period: str) -> WindowSpend | None:
        return next((r for r in self._rows.values() if r.scope == "total" and r.period == period), None)

    @property
    def day(self) -> WindowSpend | None:
        """Today's total (None when budgets are off)."""
        return self._total("day")

    @property
    def month(self) -> WindowSpend | None:
        """This month's total (None when budgets are off)."""
        return self._total("month")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {key: row.as_dict() for key, row in self._rows.items()}

    def __str__(self) -> str:
        return "\n".join(str(row) for row in self._rows.values()) or "budgets are off"

    def __repr__(self) -> str:
        return f"Spend({list(self._rows.values())!r})"
