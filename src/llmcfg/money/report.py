"""``llmcfg costs``: totals from the JSONL cost log by model, alias, kind or day, streamed (flat memory
for any size), corrupt lines skipped and counted. Never imports litellm.

A call whose cost is unknown is never counted as $0: ``Totals.unpriced`` says how many there were,
and every printed total shows them (``$1.20 + ? (3 unpriced)``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path

from llmcfg.money.logscan import SUMMED, Event, Key, Scan, Totals, scan_file, scan_lines

__all__ = ["GROUPINGS", "Report", "Totals", "money_text", "parse_since", "report", "report_file"]

GROUPINGS = ("model", "alias", "kind", "day")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def money_text(usd: float | None, unpriced: int = 0, digits: int = 4) -> str:
    """A dollar figure that never hides unknown costs: ``?`` alone when nothing is known,
    ``$x + ? (n unpriced)`` when part is."""
    if usd is None or (unpriced and not usd):
        return f"? ({unpriced:,} unpriced)" if unpriced else "?"
    text = f"${usd:.{digits}f}"
    return f"{text} + ? ({unpriced:,} unpriced)" if unpriced else text


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


def _day(event: Event) -> int | None:
    """Days since 1970 (UTC): a number per event, turned into a date once per row."""
    return int(event.ts // 86400) if event.ts is not None else None


def _key(by: str) -> Key:
    if by not in GROUPINGS:
        raise ValueError(f"--by {by!r}: use one of {', '.join(GROUPINGS)}")
    return _day if by == "day" else attrgetter(by)


def _reads(by: str) -> frozenset[str]:
    """The fields a report reads: only those are decoded."""
    return SUMMED | {"ts" if by == "day" else by}


def _label(by: str, key: object) -> str:
    if by == "day":
        return (
            datetime.fromtimestamp(key * 86400, timezone.utc).strftime("%Y-%m-%d")
            if isinstance(key, int)
            else "?"
        )
    return str(key or "-")


def _report(scan: Scan, by: str) -> Report:
    result = Report(by, total=scan.total(), lines=scan.lines, corrupt=scan.corrupt)
    for key, totals in scan.rows.items():
        label = _label(by, key)
        if label in result.rows:
            result.rows[label].merge(totals)
        else:
            result.rows[label] = totals
    return result


def report(lines: Iterable[str | bytes], *, by: str = "model", since: float | None = None) -> Report:
    return _report(scan_lines(lines, _key(by), since, reads=_reads(by)), by)


def report_file(path: str | Path, *, by: str = "model", since: float | None = None) -> Report:
    return _report(scan_file(path, _key(by), since, reads=_reads(by)), by)
