"""Reading the JSONL cost log fast, in flat memory: the engine under ``llmcfg costs`` and ``--what-if``.

A log grows to millions of lines and a report reads it whole, so parsing is the cost that matters
(about 70 % of the time with ``json.loads``). msgspec decodes each 4 MB block of lines straight into
a small typed record that holds only the fields a report reads, skipping the rest of each line
without building a dict; that is several times faster than ``json.loads`` + ``dict.get``. A block
that does not decode as a whole (a torn line, a foreign line) is decoded line by line, so one bad
line costs only itself. Events are grouped per block (one dict pass) and each group is summed in
one loop over its events (a null falls back to a pass per field); memory is one block at a time.

Big files are split in byte ranges read by forked worker processes (one per core), as DuckDB uses
every core for the same job; their partial totals are merged. Forking is skipped when the process
has other threads (a fork would copy their locks in whatever state they are in).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

import msgspec

__all__ = ["Event", "Scan", "Totals", "scan_file", "scan_lines"]

_BLOCK = 4 << 20  # bytes decoded at a time: memory stays flat whatever the file's size
_PARALLEL_ABOVE = 64 << 20  # bytes: smaller files are read in this process (a fork costs more)


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


_DECODER = msgspec.json.Decoder(Event)
_STATUS = attrgetter("status")
_CACHED = attrgetter("cached")
_COST = attrgetter("cost_usd")
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


Key = Callable[[Event], Hashable]


@dataclass
class Scan:
    """Totals per group key, plus what the file held: lines read and corrupt lines skipped."""

    rows: dict[Hashable, Totals] = field(default_factory=dict)
    lines: int = 0
    corrupt: int = 0

    def merge(self, other: Scan) -> None:
        self.lines += other.lines
        self.corrupt += other.corrupt
        for key, totals in other.rows.items():
            mine = self.rows.get(key)
            if mine is None:
                self.rows[key] = totals
            else:
                mine.merge(totals)

    def total(self) -> Totals:
        """The sum of the rows: every event is added to one row, and rows are added once here."""
        total = Totals()
        for totals in self.rows.values():
            total.merge(totals)
        return total


_SKIP = object()  # a JSON object that is not an llm.call event: not ours, not corrupt


def _decode_line(line: bytes) -> Event | object | None:
    """One line on its own: an Event, ``_SKIP`` for another event, None when it is not a JSON object
    (a torn line)."""
    try:
        return _DECODER.decode(line)
    except msgspec.ValidationError:  # another event, or a field of an unexpected type
        try:
            value = json.loads(line)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        if value.get("event") != "llm.call":
            return _SKIP
        try:
            return msgspec.convert(value, Event, strict=False)
        except msgspec.ValidationError:
            return None
    except msgspec.DecodeError:
        return None


def _decode_block(block: bytes | memoryview, scan: Scan) -> list[Event]:
    try:
        return _DECODER.decode_lines(block)
    except (msgspec.DecodeError, msgspec.ValidationError):
        events = []
        for line in bytes(block).splitlines():
            if not line.strip():
                continue
            event = _decode_line(line)
            if isinstance(event, Event):
                events.append(event)
            else:
                scan.lines += 1
                scan.corrupt += event is None
        return events


def _add_block(block: bytes | memoryview, scan: Scan, key: Key, since: float | None) -> None:
    events = _decode_block(block, scan)
    scan.lines += len(events)  # and the skipped ones; blank lines are not counted
    if since is not None:
        events = [e for e in events if e.ts is not None and e.ts >= since]
    if not events:
        return
    keys = list(map(key, events))
    groups: Iterable[tuple[Hashable, list[Event]]]
    if keys.count(keys[0]) == len(keys):  # one group (one model, one day): no sorting out
        groups = [(keys[0], events)]
    else:
        grouped: defaultdict[Hashable, list[Event]] = defaultdict(list)
        for k, event in zip(keys, events, strict=True):
            grouped[k].append(event)
        groups = grouped.items()
    for k, members in groups:
        totals = scan.rows.get(k)
        if totals is None:
            totals = scan.rows[k] = Totals()
        totals.add_events(members)


def _blocks(handle: Any, end: int | None) -> Iterator[bytes | memoryview]:
    """Whole lines, about ``_BLOCK`` bytes at a time, up to byte ``end`` (a line starting before it
    is read to its end). The partial line at a block's end is read again with the next block (a seek
    back), not copied onto it."""
    while True:
        start = handle.tell()
        if end is not None and start >= end:
            return
        block = handle.read(_BLOCK)
        if not block:
            return
        cut = block.rfind(b"\n") + 1
        if end is not None and start + cut > end:  # stop after the line that crosses ``end``
            cut = block.find(b"\n", end - start - 1) + 1 or cut
        if cut == 0:  # no line end within a block: a huge line, or the file's unterminated last one
            block += handle.readline()
            yield block
            continue
        if cut < len(block):
            handle.seek(start + cut)
        yield memoryview(block)[:cut]


def scan_lines(lines: Iterable[str | bytes], key: Key, since: float | None = None) -> Scan:
    """Totals of ``lines`` (text or bytes, with or without line ends) grouped by ``key``."""
    scan = Scan()
    buffer: list[bytes] = []
    size = 0
    for line in lines:
        raw = line.encode() if isinstance(line, str) else line
        buffer.append(raw if raw.endswith(b"\n") else raw + b"\n")
        size += len(raw)
        if size >= _BLOCK:
            _add_block(b"".join(buffer), scan, key, since)
            buffer, size = [], 0
    if buffer:
        _add_block(b"".join(buffer), scan, key, since)
    return scan


def _scan_range(path: str, start: int, end: int | None, key: Key, since: float | None) -> Scan:
    scan = Scan()
    with open(path, "rb") as handle:
        if start:
            handle.seek(start - 1)
            handle.readline()  # the line that straddles ``start`` belongs to the range before
        for block in _blocks(handle, end):
            _add_block(block, scan, key, since)
    return scan


def _workers(size: int) -> int:
    if size < _PARALLEL_ABOVE or threading.active_count() > 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def scan_file(path: str | os.PathLike[str], key: Key, since: float | None = None) -> Scan:
    """Totals of the log at ``path`` grouped by ``key`` (a picklable function of an ``Event``)."""
    name = os.fspath(path)
    size = os.path.getsize(name)
    workers = _workers(size)
    if workers == 1:
        return _scan_range(name, 0, None, key, since)
    bounds = [size * index // workers for index in range(workers + 1)]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        parts = pool.starmap(
            _scan_range, [(name, bounds[i], bounds[i + 1], key, since) for i in range(workers)]
        )
    scan = Scan()
    for part in parts:
        scan.merge(part)
    return scan
