"""``llmcfg costs``: totals from the JSONL cost log, streamed line by line (flat memory for any
size), corrupt lines skipped and counted. Never imports litellm."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["GROUPINGS", "Report", "Totals", "parse_since", "report", "report_file"]

GROUPINGS = ("model", "alias", "kind", "day")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class Totals:
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    cache_hits: int = 0
    errors: int = 0
    blocked: int = 0
    unpriced: int = 0

    def add(self, event: dict[str, object]) -> None:
        self.requests += 1
        self.tokens_in += int(event.get("tokens_in") or 0)  # type: ignore[call-overload]
        self.tokens_out += int(event.get("tokens_out") or 0)  # type: ignore[call-overload]
        cost = event.get("cost_usd")
        if isinstance(cost, (int, float)):
            self.cost_usd += cost
        elif event.get("status") == "ok":
            self.unpriced += 1
        saved = event.get("saved_usd")
        if isinstance(saved, (int, float)):
            self.saved_usd += saved
        self.cache_hits += event.get("cached") is True
        status = event.get("status")
        self.errors += status == "error"
        self.blocked += status == "blocked"

    @property
    def average_cost_usd(self) -> float:
        return self.cost_usd / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            **asdict(self),
            "average_cost_usd": self.average_cost_usd,
            "cache_hit_rate": self.cache_hit_rate,
        }


@dataclass
class Report:
    by: str
    rows: dict[str, Totals] = field(default_factory=dict)
    total: Totals = field(default_factory=Totals)
    lines: int = 0
    corrupt: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "by": self.by,
            "rows": {key: totals.as_dict() for key, totals in sorted(self.rows.items())},
            "total": self.total.as_dict(),
            "lines": self.lines,
            "corrupt_lines": self.corrupt,
        }


def parse_since(text: str, now: float | None = None) -> float:
    """'7d', '12h', '30m' (ago), or a date/datetime ('2026-11-01', ISO 8601; UTC unless it says)."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return (now if now is not None else time.time()) - float(relative[1]) * _UNITS[relative[2]]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use 7d, 12h, 30m or a date like 2026-11-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _key(event: dict[str, object], by: str) -> str:
    if by == "day":
        stamp = event.get("ts")
        return (
            datetime.fromtimestamp(float(stamp), timezone.utc).strftime("%Y-%m-%d")
            if isinstance(stamp, (int, float))
            else "?"
        )
    return str(event.get(by) or "-")


def report(lines: Iterable[str], *, by: str = "model", since: float | None = None) -> Report:
    if by not in GROUPINGS:
        raise ValueError(f"--by {by!r}: use one of {', '.join(GROUPINGS)}")
    result = Report(by)
    loads = json.loads
    for line in lines:
        result.lines += 1
        if not line.strip():
            continue
        try:
            event = loads(line)
        except ValueError:
            result.corrupt += 1
            continue
        if not isinstance(event, dict) or event.get("event") != "llm.call":
            result.corrupt += not isinstance(event, dict)
            continue
        stamp = event.get("ts")
        if since is not None and (not isinstance(stamp, (int, float)) or stamp < since):
            continue
        key = _key(event, by)
        totals = result.rows.get(key)
        if totals is None:
            totals = result.rows[key] = Totals()
        totals.add(event)
        result.total.add(event)
    return result


def report_file(path: str | Path, *, by: str = "model", since: float | None = None) -> Report:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return report(handle, by=by, since=since)
