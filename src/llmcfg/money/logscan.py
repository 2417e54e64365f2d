"""Reading the JSONL cost log fast, in flat memory: the engine under ``llmcfg costs`` and ``--what-if``.

A log grows to millions of lines and a report reads it whole, so parsing is the cost that matters
(about 70 % of the time with ``json.loads``). msgspec decodes each 4 MB block of lines straight into
a small typed record that holds only the fields a report reads, skipping the rest of each line
without building a dict; that is several times faster than ``json.loads`` + ``dict.get``. A block
that does not decode as a whole (a torn line, a foreign line) is decoded line by line, so one bad
line costs only itself. Each field decoded costs time (scanning a line alone is about 40 % of a full
decode), so a caller names the fields it reads and the others are skipped like unknown ones. Events
are grouped per block (one dict pass) and each group is summed by ``Totals`` (money/totals.py);
memory is one block at a time.

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
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from llmcfg.money.totals import SUMMED, Event, Totals

__all__ = ["SUMMED", "Event", "PendingScan", "Scan", "Totals", "scan_file", "scan_lines"]

_BLOCK = 4 << 20  # bytes decoded at a time: memory stays flat whatever the file's size
_PARALLEL_ABOVE = 64 << 20  # bytes: smaller files are read in this process (a fork costs more)

_FIELDS = {item.name: item for item in msgspec.structs.fields(Event)}
_NOTHING = {"saved_usd": 0.0}  # a field's value when it is not read, where its default would not do


@dataclass(frozen=True)
class _Reader:
    """How lines are decoded for one scan: into ``record``, a struct with only the fields read."""

    record: type[Any]
    decoder: msgspec.json.Decoder[Any]


@cache
def _reader(reads: frozenset[str] | None) -> _Reader:
    """A record type decoding only ``reads`` (all of Event's fields when None); a field left out is
    a class attribute holding "nothing" (0, None, False; a saved amount 0.0, so sums stay on their
    fast path), so code reading it still works."""
    if reads is None:
        return _Reader(Event, msgspec.json.Decoder(Event))
    unknown = reads - _FIELDS.keys()
    if unknown:
        raise ValueError(f"not fields of an llm.call event: {sorted(unknown)}")
    record = msgspec.defstruct(
        "Event",
        [(name, item.type, item.default) for name, item in _FIELDS.items() if name in reads],
        namespace={
            name: _NOTHING.get(name, item.default) for name, item in _FIELDS.items() if name not in reads
        },
        gc=False,
        tag_field="event",
        tag="llm.call",
    )
    return _Reader(record, msgspec.json.Decoder(record))


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


def _decode_line(line: bytes, reader: _Reader) -> object:
    """One line on its own: an event record, ``_SKIP`` for another event, None when it is not a JSON
    object (a torn line)."""
    try:
        return reader.decoder.decode(line)
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
            return msgspec.convert(value, reader.record, strict=False)
        except msgspec.ValidationError:
            return None
    except msgspec.DecodeError:
        return None


def _decode_block(block: bytes | memoryview, scan: Scan, reader: _Reader) -> list[Event]:
    try:
        return reader.decoder.decode_lines(block)
    except (msgspec.DecodeError, msgspec.ValidationError):
        events = []
        for line in bytes(block).splitlines():
            if not line.strip():
                continue
            event = _decode_line(line, reader)
            if isinstance(event, reader.record):
                events.append(event)
            else:
                scan.lines += 1
                scan.corrupt += event is None
        return events


def _add_block(block: bytes | memoryview, scan: Scan, key: Key, since: float | None, reader: _Reader) -> None:
    events = _decode_block(block, scan, reader)
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


def _fields(reads: Collection[str] | None, since: float | None) -> frozenset[str] | None:
    if reads is None:
        return None
    return frozenset(reads) | ({"ts"} if since is not None else frozenset())


def scan_lines(
    lines: Iterable[str | bytes],
    key: Key,
    since: float | None = None,
    *,
    reads: Collection[str] | None = None,
) -> Scan:
    """Totals of ``lines`` (text or bytes, with or without line ends) grouped by ``key``; ``reads``
    as for ``scan_file``."""
    reader = _reader(_fields(reads, since))
    scan = Scan()
    buffer: list[bytes] = []
    size = 0
    for line in lines:
        raw = line.encode() if isinstance(line, str) else line
        buffer.append(raw if raw.endswith(b"\n") else raw + b"\n")
        size += len(raw)
        if size >= _BLOCK:
            _add_block(b"".join(buffer), scan, key, since, reader)
            buffer, size = [], 0
    if buffer:
        _add_block(b"".join(buffer), scan, key, since, reader)
    return scan


def _scan_range(
    path: str, start: int, end: int | None, key: Key, since: float | None, fields: frozenset[str] | None
) -> Scan:
    reader = _reader(fields)
    scan = Scan()
    with open(path, "rb") as handle:
        if start:
            handle.seek(start - 1)
            handle.readline()  # the line that straddles ``start`` belongs to the range before
        for block in _blocks(handle, end):
            _add_block(block, scan, key, since, reader)
    return scan


def _workers(size: int) -> int:
    if size < _PARALLEL_ABOVE or threading.active_count() > 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


class PendingScan:
    """A scan of a log file started in worker processes (big files), collected with ``result()``:
    ``costs --what-if`` loads the other config meanwhile. A small file is scanned in ``result()``
    itself. A context manager: leaving it stops workers whose result was not taken."""

    def __init__(
        self, path: str | os.PathLike[str], key: Key, since: float | None, reads: Collection[str] | None
    ) -> None:
        fields = _fields(reads, since)
        _reader(fields)  # an unknown field is an error here, not in a worker
        name = os.fspath(path)
        size = os.path.getsize(name)
        workers = _workers(size)
        self._local = (name, 0, None, key, since, fields)
        self._pool: Any = None
        self._parts: Any = None
        if workers > 1:
            bounds = [size * index // workers for index in range(workers + 1)]
            self._pool = multiprocessing.get_context("fork").Pool(workers)
            ranges = [(name, bounds[i], bounds[i + 1], key, since, fields) for i in range(workers)]
            self._parts = self._pool.starmap_async(_scan_range, ranges)

    def result(self) -> Scan:
        if self._pool is None:
            return _scan_range(*self._local)
        try:
            parts: list[Scan] = self._parts.get()
        finally:
            self.close()
        scan = Scan()
        for part in parts:
            scan.merge(part)
        return scan

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> PendingScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scan_file(
    path: str | os.PathLike[str],
    key: Key,
    since: float | None = None,
    *,
    reads: Collection[str] | None = None,
) -> Scan:
    """Totals of the log at ``path`` grouped by ``key`` (a picklable function of an ``Event``).

    ``reads``: the event fields that ``key`` and the caller's use of the totals read (None: all;
    ``SUMMED`` are the ones every total reads). Only those and ``ts`` for ``since`` are decoded; the
    others read as "nothing"."""
    with PendingScan(path, key, since, reads) as pending:
        return pending.result()
