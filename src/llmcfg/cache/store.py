"""On-disk caches (diskcache, safe across processes): fetched images by URL, and responses by a
digest of everything that decides the answer. Entries are written whole or not at all (SQLite
transactions), and only after a call succeeded.

Two choices keep a read cheap and safe:
- values go through `llmcfg.cache.encoding` (JSON or bytes) and `SafeDisk` refuses to unpickle,
  so a planted entry in ``cache.dir`` is a miss, never code run in the app;
- the caches are opened with diskcache's statistics off (they turn every read into a write
  transaction); hits and misses are counted in the process and added to a small ``stats`` store
  on a miss that is followed by a write anyway, at most every few seconds otherwise, and at exit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import diskcache

from llmcfg.cache.encoding import decode_image, decode_response, encode_image, encode_response

__all__ = ["CacheStats", "Caches", "SafeDisk", "response_key"]

_NAMES = ("images", "responses")
_FLUSH_EVERY_S = 5.0  # longest a hit count waits in memory while the process keeps running


def response_key(**parts: Any) -> str:
    """A short digest of the request: never the raw payload."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class SafeDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk without pickle, and without files outside the cache folder.

    Keys and values may only be str, bytes, int or float (stored natively by SQLite or as plain
    files). A row whose key or value is pickled, or whose file lies outside the folder, was not
    written by llmcfg: reading it is a miss and removing it touches no file outside the folder.
    """

    def put(self, key: Any) -> tuple[Any, bool]:
        if not isinstance(key, (str, bytes, int, float)):
            raise TypeError(f"llmcfg caches take str/bytes keys, not {type(key).__name__}")
        return super().put(key)  # type: ignore[no-any-return]

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise OSError("a pickled cache key was not written by llmcfg; not unpickled")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not read and not isinstance(value, (str, bytes, int, float)):
            raise TypeError(f"llmcfg caches store bytes, not {type(value).__name__} (no pickle)")
        return super().store(value, read, key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        # diskcache treats OSError from fetch as "gone": the read is a miss.
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY, diskcache.core.MODE_TEXT):
            raise OSError("a pickled cache value was not written by llmcfg; not unpickled")
        if filename is not None:
            self._inside(os.path.join(self._directory, filename))
        return super().fetch(mode, filename, value, read)

    def remove(self, file_path: str) -> None:
        try:  # diskcache passes the path relative to the cache folder
            self._inside(os.path.join(self._directory, file_path))
        except OSError:
            return  # a planted path: never delete a file outside the cache folder
        super().remove(file_path)

    def _inside(self, path: str) -> None:
        folder = os.path.realpath(self._directory)
        if os.path.commonpath([folder, os.path.realpath(path)]) != folder:
            raise OSError("a cache file outside the cache folder was not written by llmcfg")


@dataclass(frozen=True)
class CacheStats:
    name: str
    entries: int
    bytes: int
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _Counts:
    """Hits and misses, counted in the process and added to the ``stats`` store now and then (a
    separate object, so the exit hook can flush it without keeping `Caches` alive)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pending: dict[str, int] = {}
        self.flushed_at = time.monotonic()
        self.lock = threading.Lock()
        self._store: diskcache.Cache | None = None

    def add(self, name: str) -> None:
        self.pending[name] = self.pending.get(name, 0) + 1
        if time.monotonic() - self.flushed_at > _FLUSH_EVERY_S:
            self.flush()

    def store(self) -> diskcache.Cache:
        if self._store is None:
            self._store = _open(os.path.join(self.directory, "stats"))
        return self._store

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
            self.flushed_at = time.monotonic()
        if not pending:
            return
        try:
            store = self.store()
            with store.transact():
                for name, count in pending.items():
                    store.incr(name, count)
        except (OSError, TypeError, diskcache.Timeout):
            pass  # best effort: a read-only, busy or tampered stats store must not fail a call

    def totals(self, name: str) -> tuple[int, int]:
        self.flush()
        found = [self.store().get(f"{name}.{kind}", 0) for kind in ("hits", "misses")]
        hits, misses = (value if isinstance(value, int) else 0 for value in found)
        return hits, misses

    def close(self) -> None:
        self.flush()
        if self._store is not None:
            self._store.close()
            self._store = None


def _open(path: str) -> diskcache.Cache:
    # Explicit settings win over the ones stored in the folder (an older llmcfg turned
    # statistics on there, and diskcache would keep writing on every read).
    return diskcache.Cache(path, disk=SafeDisk, statistics=False, eviction_policy="least-recently-stored")


class Caches:
    """The image and response caches under one folder (``cache.dir``)."""

    def __init__(self, directory: str, *, image_ttl_s: int, response_ttl_s: int) -> None:
        self.directory = directory
        self.image_ttl_s = image_ttl_s
        self.response_ttl_s = response_ttl_s
        self._stores: dict[str, diskcache.Cache] = {}
        self._counts = _Counts(directory)
        weakref.finalize(self, self._counts.close)  # also runs at interpreter exit

    def _store(self, name: str) -> diskcache.Cache:
        store = self._stores.get(name)
        if store is None:
            store = self._stores[name] = _open(os.path.join(self.directory, name))
        return store

    def get_image(self, url: str) -> bytes | None:
        value = decode_image(self._store("images").get(url))
        self._counts.add("images.misses" if value is None else "images.hits")
        return value

    def put_image(self, url: str, data: bytes) -> None:
        self._store("images").set(url, encode_image(data), expire=self.image_ttl_s or None)
        self._counts.flush()

    def get_response(self, key: str) -> dict[str, Any] | None:
        value = decode_response(self._store("responses").get(key))
        self._counts.add("responses.misses" if value is None else "responses.hits")
        return value

    def put_response(self, key: str, value: dict[str, Any]) -> None:
        self._store("responses").set(key, encode_response(value), expire=self.response_ttl_s or None)
        self._counts.flush()

    def stats(self) -> list[CacheStats]:
        result = []
        for name in _NAMES:
            store = self._store(name)
            result.append(CacheStats(name, len(store), int(store.volume()), *self._counts.totals(name)))
        return result

    def clear(self) -> int:
        return sum(int(self._store(name).clear()) for name in _NAMES)

    def prune(self) -> int:
        """Drop expired entries; returns how many."""
        return sum(int(self._store(name).expire()) for name in _NAMES)

    def close(self) -> None:
        self._counts.close()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
