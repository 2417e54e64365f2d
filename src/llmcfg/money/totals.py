"""What one ``llm.call`` line of the cost log holds for a report (``Event``) and the sums over many
(``Totals``): the records ``logscan`` decodes and adds, kept apart from the reading itself.

The sums run in one Python loop per group of events rather than one pass per field: reading each
event's fields into local sums is faster than a C-speed pass per field, which calls a getter per
field and event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import msgspec

__all__ = ["SUMMED", "Event", "Totals"]


class Event(msgspec.Struct, gc=False, tag_field="event", tag="llm.call"):
    """The fields of an ``llm.call`` line that reports read; any other field is skipped unparsed.
    The tag makes msgspec itself refuse other events, so a block of ``llm.call`` lines needs no
    filtering pass."""

    ts: float | None = None
    kind: str | None = None
    requested: str | None = None
    alias: str | None = None
    model: str | None = None
    tokens_in: int | None = 0
    tokens_out: int | None = 0
    cached_tokens: int | None = 0
    cache_write_tokens: int | None = 0
    reasoning_tokens: int | None = 0
    images: int | None = 0
    size: str | None = None
    quality: str | None = None
    cost_usd: float | None = None
    saved_usd: float | None = None
    cached: bool | None = False
    status: str | None = None


# the counts summed field by field (their getters serve the pass that skips nulls)
_SUMMED = {
    name: attrgetter(name)
    for name in (
        "tokens_in",
        "tokens_out",
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "images",
        "saved_usd",
    )
}
_STATUS = attrgetter("status")
_CACHED = attrgetter("cached")
_COST = attrgetter("cost_usd")
# every field ``Totals`` reads from an event
SUMMED = frozenset({*_SUMMED, "cost_usd", "cached", "status"})


@dataclass
class Totals:
    """Sums over a group of calls. ``cost_usd`` is the sum of the KNOWN costs; ``unpriced`` counts
    the calls that succeeded with no known cost, so a total is never shown as complete when it is not."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    cache_hits: int = 0
    errors: int = 0
    blocked: int = 0
    unpriced: int = 0

    def add_events(self, events: list[Event]) -> None:
        """Add a group of events, each once: one loop reading each event's fields into local sums
        (faster than a C-speed pass per field, which calls a getter per field and event). A null
        where a number belongs (a hand-edited line, an unknown cost) makes the loop fail before
        anything is added; the events are then added again, field by field, nulls skipped."""
        tokens_in = tokens_out = cached_tokens = cache_writes = reasoning_tokens = images = 0
        hits = errors = blocked = 0
        saved_usd = cost_usd = 0.0
        try:
            for event in events:
                tokens_in += event.tokens_in  # type: ignore[operator]
                tokens_out += event.tokens_out  # type: ignore[operator]
                cached_tokens += event.cached_tokens  # type: ignore[operator]
                cache_writes += event.cache_write_tokens  # type: ignore[operator]
                reasoning_tokens += event.reasoning_tokens  # type: ignore[operator]
                images += event.images  # type: ignore[operator]
                saved_usd += event.saved_usd  # type: ignore[operator]
                cost_usd += event.cost_usd  # type: ignore[operator]
                if event.cached:
                    hits += 1
                status = event.status
                if status != "ok":
                    if status == "error":
                        errors += 1
                    elif status == "blocked":
                        blocked += 1
        except TypeError:
            self._add_with_nulls(events)
            return
        self.requests += len(events)
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cached_tokens += cached_tokens
        self.cache_write_tokens += cache_writes
        self.reasoning_tokens += reasoning_tokens
        self.images += images
        self.saved_usd += saved_usd
        self.cost_usd += cost_usd
        self.cache_hits += hits
        self.errors += errors
        self.blocked += blocked

    def _add_with_nulls(self, events: list[Event]) -> None:
        """``add_events`` for a group holding nulls: a C-speed pass per field, nulls left out."""
        self.requests += len(events)
        for name, getter in _SUMMED.items():
            try:
                added = sum(map(getter, events))
            except TypeError:  # a null in a hand-edited line
                added = sum(filter(None, map(getter, events)))
            setattr(self, name, getattr(self, name) + added)
        statuses = list(map(_STATUS, events))
        self.errors += statuses.count("error")
        self.blocked += statuses.count("blocked")
        self.cache_hits += sum(filter(None, map(_CACHED, events)))
        costs = list(map(_COST, events))
        try:
            self.cost_usd += sum(costs)
        except TypeError:  # unknown costs; of calls that were made count (errors and blocks cost nothing)
            self.cost_usd += sum(filter(None, costs))
            self.unpriced += sum(c is None and s == "ok" for c, s in zip(costs, statuses, strict=True))

    def merge(self, other: Totals) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def average_cost_usd(self) -> float | None:
        """Known cost per call, or None when some call's cost is unknown (an average would lie)."""
        if self.unpriced:
            return None
        return self.cost_usd / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **{item.name: getattr(self, item.name) for item in fields(self)},
            "cost_complete": not self.unpriced,
            "average_cost_usd": self.average_cost_usd,
            "cache_hit_rate": self.cache_hit_rate,
        }
