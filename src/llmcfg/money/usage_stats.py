"""In-process usage counters, fed by the ``llm.call`` events: ``llm.usage_stats()``."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["UsageStats"]


def _empty() -> dict[str, float]:
    return {
        "requests": 0,
        "errors": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,  # known costs only
        "unpriced": 0,  # calls made with no known cost: never counted as $0
        "cache_hits": 0,
        "cache_misses": 0,
    }


class UsageStats:
    """Requests, tokens, cost and cache hits by model, alias and kind since the LLM was made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, dict[str, dict[str, float]]] = {"model": {}, "alias": {}, "kind": {}}
        self._total = _empty()

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            rows = [self._total] + [
                self._groups[group].setdefault(str(event.get(group)), _empty())
                for group in ("model", "alias", "kind")
                if event.get(group) is not None
            ]
            for row in rows:
                row["requests"] += 1
                row["errors"] += event.get("status") != "ok"
                row["tokens_in"] += event.get("tokens_in") or 0
                row["tokens_out"] += event.get("tokens_out") or 0
                cost = event.get("cost_usd")
                if cost is None and event.get("status") == "ok":
                    row["unpriced"] += 1
                row["cost_usd"] += cost or 0.0
                if event.get("status") == "ok":
                    row["cache_hits" if event.get("cached") else "cache_misses"] += 1

    def snapshot(self) -> dict[str, Any]:
        def finish(row: dict[str, float]) -> dict[str, float]:
            looked_up = row["cache_hits"] + row["cache_misses"]
            return {**row, "cache_hit_rate": row["cache_hits"] / looked_up if looked_up else 0.0}

        with self._lock:
            return {
                "total": finish(self._total),
                **{
                    group: {key: finish(row) for key, row in rows.items()}
                    for group, rows in self._groups.items()
                },
            }
