"""On-disk caches (diskcache, safe across processes): fetched images by URL, and responses by a
digest of everything that decides the answer. Entries are written whole or not at all (SQLite
transactions), and only after a call succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import diskcache

__all__ = ["CacheStats", "Caches", "response_key"]


def response_key(**parts: Any) -> str:
    """A short digest of the request: never the raw payload."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


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


class Caches:
    """The image and response caches under one folder (``cache.dir``)."""

    def __init__(self, directory: str, *, image_ttl_s: int, response_ttl_s: int) -> None:
        self.directory = directory
        self.image_ttl_s = image_ttl_s
        self.response_ttl_s = response_ttl_s
        self._stores: dict[str, diskcache.Cache] = {}

    def _store(self, name: str) -> diskcache.Cache:
        store = self._stores.get(name)
        if store is None:
            store = diskcache.Cache(os.path.join(self.directory, name), statistics=True)
            self._stores[name] = store
        return store

    def get_image(self, url: str) -> bytes | None:
        value = self._store("images").get(url)
        return value if isinstance(value, bytes) else None

    def put_image(self, url: str, data: bytes) -> None:
        self._store("images").set(url, data, expire=self.image_ttl_s or None)

    def get_response(self, key: str) -> dict[str, Any] | None:
        value = self._store("responses").get(key)
        return value if isinstance(value, dict) else None

    def put_response(self, key: str, value: dict[str, Any]) -> None:
        self._store("responses").set(key, value, expire=self.response_ttl_s or None)

    def stats(self) -> list[CacheStats]:
        result = []
        for name in ("images", "responses"):
            store = self._store(name)
            hits, misses = store.stats()
            result.append(CacheStats(name, len(store), int(store.volume()), hits, misses))
        return result

    def clear(self) -> int:
        return sum(int(self._store(name).clear()) for name in ("images", "responses"))

    def prune(self) -> int:
        """Drop expired entries; returns how many."""
        return sum(int(self._store(name).expire()) for name in ("images", "responses"))

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
