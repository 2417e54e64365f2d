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
        ok = event.get("status") == "ok"
        errors = 0 if ok else 1
        tokens_in, tokens_out = event.get("tokens_in") or 0, event.get("tokens_out") or 0
        cost = event.get("cost_usd")
        unpriced = 1 if cost is None and ok else 0
        hit_or_miss = ("cache_hits" if event.get("cached") else "cache_misses") if ok else None
        with self._lock:
            rows = [self._total]
            for group, by_key in self._groups.items():
                key = event.get(group)
                if key is not None:
                    row = by_key.get(str(key))
                    rows.append(row if row is not None else by_key.setdefault(str(key), _empty()))
            for row in rows:
                row["requests"] += 1
                row["errors"] += errors
                row["tokens_in"] += tokens_in
                row["tokens_out"] += tokens_out
                row["unpriced"] += unpriced
                row["cost_usd"] += cost or 0.0
                if hit_or_miss is not None:
                    row[hit_or_miss] += 1

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
