"""The response and image caches: no pickle (a planted entry is a miss, never code run in the app),
no write on a read, and hit/miss statistics that survive the process."""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import diskcache
import pytest

from llmcfg import LLM, load_config
from llmcfg.cache.encoding import decode_response, encode_response
from llmcfg.cache.store import Caches, SafeDisk
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC


class _Planted:
    """A value whose unpickling creates a file: proof that someone ran pickle.loads on it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _plant(folder: Path, marker: Path, *, big: bool = False) -> None:
    """Replace every value in a diskcache folder with a pickle that would create ``marker``."""
    with diskcache.Cache(str(folder)) as store:  # diskcache's default Disk pickles
        for key in list(store):
            value: Any = [_Planted(marker), "x" * 100_000] if big else _Planted(marker)
            store.set(key, value)
    modes = _modes(folder)
    assert modes
    assert set(modes) == {diskcache.core.MODE_PICKLE}


def _modes(folder: Path) -> list[int]:
    with sqlite3.connect(folder / "cache.db") as db:
        return [row[0] for row in db.execute("SELECT mode FROM Cache")]


def _caches(folder: Path) -> Caches:
    return Caches(str(folder), image_ttl_s=0, response_ttl_s=0)


def test_a_planted_pickle_response_is_a_miss_and_never_unpickled(
    write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    llm = LLM(use_fake(load_config(write_config(BASIC + "cache: {dir: cache}\n")), fake, isolate=False))
    fake.reply("real answer")
    llm.chat("hi", model="mini", cache=True)
    llm.caches.close()
    marker = tmp_path / "pwned"
    for big in (False, True):  # inline in SQLite, and in a file beside it
        _plant(tmp_path / "cache" / "responses", marker, big=big)
        again = LLM(use_fake(load_config(tmp_path / "llm_config.yaml"), fake, isolate=False))
        result = again.chat("hi", model="mini", cache=True)
        again.caches.close()
        assert not marker.exists(), "a cache value was unpickled"
        assert result.cached is False
        assert result.text == "real answer"
    assert len(fake.requests) == 3  # both planted entries were misses


def test_a_planted_pickle_image_is_a_miss(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    caches.put_image("https://images.test/a.png", b"\x89PNG fake")
    caches.close()
    marker = tmp_path / "pwned"
    _plant(tmp_path / "images", marker)
    assert _caches(tmp_path).get_image("https://images.test/a.png") is None
    assert not marker.exists()


def test_values_are_stored_as_bytes_and_json_not_pickle(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "hello", "usage": {"input_tokens": 3}})
    caches.put_image("https://images.test/big.png", b"\x00" * 100_000)  # big enough for a file
    assert caches.get_response("k") == {"text": "hello", "usage": {"input_tokens": 3}}
    assert caches.get_image("https://images.test/big.png") == b"\x00" * 100_000
    caches.close()
    assert diskcache.core.MODE_PICKLE not in _modes(tmp_path / "responses") + _modes(tmp_path / "images")


def test_a_planted_file_path_is_neither_read_nor_deleted(tmp_path: Path) -> None:
    """A row pointing at a file outside cache.dir must not send that file or let `clear` remove it."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG private")
    caches = _caches(tmp_path / "cache")
    caches.put_image("https://images.test/big.png", b"\x00" * 100_000)
    caches.close()
    with sqlite3.connect(tmp_path / "cache" / "images" / "cache.db") as db:
        db.execute("UPDATE Cache SET filename = ?", (os.path.relpath(secret, tmp_path / "cache" / "images"),))
    caches = _caches(tmp_path / "cache")
    assert caches.get_image("https://images.test/big.png") is None
    assert caches.clear() == 1
    assert secret.read_bytes() == b"\x89PNG private"


def test_decode_refuses_what_encode_did_not_write() -> None:
    assert decode_response(encode_response({"a": [1, "é"]})) == {"a": [1, "é"]}
    for foreign in (
        b'{"a": 1}',
        b"llmcfg:r1:[1]",
        b"llmcfg:r1:\xff",
        b"llmcfg:r1:" + b"[" * 100_000,
        "text",
        3,
    ):
        assert decode_response(foreign) is None


def test_a_read_writes_nothing_even_in_a_folder_with_statistics_on(tmp_path: Path) -> None:
    """diskcache's statistics turn every read into a write; an older llmcfg left them on in the folder."""
    with diskcache.Cache(str(tmp_path / "responses"), statistics=True) as old:
        old.get("warm")
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "x"})
    before = _settings(tmp_path / "responses")
    for _ in range(5):
        assert caches.get_response("k") == {"text": "x"}
        assert caches.get_response("missing") is None
    assert _settings(tmp_path / "responses") == before
    caches.close()


def _settings(folder: Path) -> dict[str, Any]:
    with sqlite3.connect(folder / "cache.db") as db:
        return dict(db.execute("SELECT key, value FROM Settings"))


def test_stats_count_hits_and_misses_across_instances_and_clear(tmp_path: Path) -> None:
    first = _caches(tmp_path)
    assert first.get_response("k") is None
    first.put_response("k", {"text": "x"})
    assert first.get_response("k") == {"text": "x"}
    first.close()
    second = _caches(tmp_path)
    second.get_response("k")
    second.get_image("https://images.test/none.png")
    stats = {s.name: s for s in second.stats()}
    assert (stats["responses"].entries, stats["responses"].hits, stats["responses"].misses) == (1, 2, 1)
    assert (stats["images"].entries, stats["images"].hits, stats["images"].misses) == (0, 0, 1)
    assert stats["responses"].hit_rate == 2 / 3
    assert second.clear() == 1
    assert second.prune() == 0
    assert {s.name: s.entries for s in second.stats()} == {"images": 0, "responses": 0}
    second.close()


def test_a_planted_pickled_key_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    """Keys are only ever str/bytes: a row whose key is a pickle is refused when diskcache reads it."""
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "x"})
    caches.close()
    with diskcache.Cache(str(tmp_path / "responses"), disk=SafeDisk) as store:
        assert list(store.iterkeys()) == ["k"]  # a key llmcfg wrote reads back as it is
    marker = tmp_path / "pwned"
    with diskcache.Cache(str(tmp_path / "responses")) as store:  # the default Disk pickles a tuple key
        store.set((_Planted(marker),), "x")
    with (
        diskcache.Cache(str(tmp_path / "responses"), disk=SafeDisk) as store,
        pytest.raises(OSError, match=r"^a pickled cache key was not written by llmcfg; not unpickled$"),
    ):
        list(store.iterkeys())
    assert not marker.exists()


def test_clear_removes_the_files_of_large_values(tmp_path: Path) -> None:
    """diskcache names a value's file relative to the folder: the outside-the-folder check must join
    it first (it used to resolve it against the working directory, so no value file was ever removed)."""
    caches = _caches(tmp_path)
    caches.put_image("https://images.test/big.png", b"\x01" * 100_000)  # stored as a file beside the db
    assert list((tmp_path / "images").rglob("*.val"))
    assert caches.clear() == 1
    assert list((tmp_path / "images").rglob("*.val")) == []
    caches.close()


def test_image_hits_and_misses_are_counted_and_sizes_reported(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    assert caches.get_image("https://images.test/a.png") is None
    caches.put_image("https://images.test/a.png", b"\x89PNG" * 30_000)
    assert caches.get_image("https://images.test/a.png") == b"\x89PNG" * 30_000
    assert caches.get_image("https://images.test/a.png") is not None
    stats = {s.name: s for s in caches.stats()}
    assert (stats["images"].entries, stats["images"].hits, stats["images"].misses) == (1, 2, 1)
    assert stats["images"].bytes >= 120_000
    assert (stats["responses"].hits, stats["responses"].misses) == (0, 0)
    assert stats["responses"].hit_rate == 0.0
    caches.close()


def test_tampered_counts_read_as_zero(tmp_path: Path) -> None:
    with diskcache.Cache(str(tmp_path / "stats")) as store:
        store.set("responses.hits", "many")
        store.set("responses.misses", 2.5)
    stats = {s.name: s for s in _caches(tmp_path).stats()}
    assert (stats["responses"].hits, stats["responses"].misses) == (0, 0)


def test_entries_expire_after_their_ttl_and_never_with_ttl_zero(tmp_path: Path) -> None:
    caches = Caches(str(tmp_path), image_ttl_s=600, response_ttl_s=3600)
    caches.put_image("https://images.test/a.png", b"\x89PNG")
    caches.put_response("k", {"text": "x"})
    caches.close()
    now = time.time()
    with diskcache.Cache(str(tmp_path / "images"), disk=SafeDisk) as images:
        _, image_expiry = images.get("https://images.test/a.png", expire_time=True)
    with diskcache.Cache(str(tmp_path / "responses"), disk=SafeDisk) as responses:
        _, response_expiry = responses.get("k", expire_time=True)
    assert now + 590 < image_expiry <= now + 600
    assert now + 3590 < response_expiry <= now + 3600
    forever = _caches(tmp_path / "forever")  # ttl 0: kept until cleared
    forever.put_image("https://images.test/a.png", b"\x89PNG")
    forever.put_response("k", {"text": "x"})
    forever.close()
    for name, key in (("images", "https://images.test/a.png"), ("responses", "k")):
        with diskcache.Cache(str(tmp_path / "forever" / name), disk=SafeDisk) as store:
            assert store.get(key, expire_time=True)[1] is None


def test_a_planted_absolute_file_path_is_neither_read_nor_deleted(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG private")
    caches = _caches(tmp_path / "cache")
    caches.put_image("https://images.test/big.png", b"\x00" * 100_000)
    caches.close()
    with sqlite3.connect(tmp_path / "cache" / "images" / "cache.db") as db:
        db.execute("UPDATE Cache SET filename = ?", (str(secret),))
    caches = _caches(tmp_path / "cache")
    assert caches.get_image("https://images.test/big.png") is None
    assert caches.clear() == 1
    assert secret.read_bytes() == b"\x89PNG private"


def test_only_str_bytes_and_numbers_go_in(tmp_path: Path) -> None:
    with diskcache.Cache(str(tmp_path / "c"), disk=SafeDisk) as store:
        with pytest.raises(TypeError, match=r"^llmcfg caches take str/bytes keys, not tuple$"):
            store.set(("a", 1), b"x")
        with pytest.raises(TypeError, match=r"^llmcfg caches store bytes, not list \(no pickle\)$"):
            store.set("k", [1, 2])
        store.set("k", b"v")
        assert store.get("k") == b"v"
    assert diskcache.core.MODE_PICKLE not in _modes(tmp_path / "c")


def test_hits_between_flushes_are_counted_in_memory_and_written_later(tmp_path: Path) -> None:
    """A hit is a read: it writes nothing until the counts are flushed (at a write, after a few
    seconds, at close), and none is lost."""
    caches = _caches(tmp_path)
    assert caches.get_response("k") is None
    caches.put_response("k", {"text": "x"})  # the write flushes the miss into the stats store
    stats_rows = _rows(tmp_path / "stats")
    assert stats_rows == [("responses.misses", 1)]
    for _ in range(5):
        assert caches.get_response("k") is not None
    assert _rows(tmp_path / "stats") == stats_rows
    caches.close()
    assert {s.name: s.hits for s in _caches(tmp_path).stats()}["responses"] == 5


def _rows(folder: Path) -> list[Any]:
    with sqlite3.connect(folder / "cache.db") as db:
        return list(db.execute("SELECT key, value FROM Cache ORDER BY key"))


def test_a_closed_cache_can_be_used_again(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "x"})
    caches.close()
    assert caches.get_response("k") == {"text": "x"}
    assert {s.name: s.hits for s in caches.stats()}["responses"] == 1
    caches.close()


def test_counts_are_written_when_a_cache_is_dropped_without_close(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "x"})
    caches.get_response("k")
    del caches
    gc.collect()
    assert {s.name: s.hits for s in _caches(tmp_path).stats()}["responses"] == 1


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_each_store_is_opened_once(tmp_path: Path) -> None:
    caches = _caches(tmp_path)
    caches.put_response("k", {"text": "x"})
    caches.get_image("https://images.test/a.png")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        caches.get_response("k")
        caches.get_image("https://images.test/a.png")
    assert len(os.listdir("/proc/self/fd")) <= before + 2
    caches.close()
