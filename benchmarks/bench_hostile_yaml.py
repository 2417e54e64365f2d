"""Hostile YAML against the loader: wall time and peak memory of each refusal, next to loading the
shipped llm_config.yaml (the baseline) in the same run. Target (issue 11 #7): every refusal under
1 s and a few MB, i.e. within a small multiple of an ordinary load.
Run: python benchmarks/bench_hostile_yaml.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_config_hostile import BOMB

from llmcfg import ConfigError, load_config, parse_config


def measure(run: Callable[[], Any]) -> tuple[float, int, str]:
    tracemalloc.start()
    start = time.perf_counter()
    outcome = "loaded"
    try:
        run()
    except ConfigError as error:
        outcome = str(error).splitlines()[0][:70]
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, outcome


def main() -> None:
    shipped = Path(__file__).resolve().parents[1] / "llm_config.yaml"
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.yaml"
        with big.open("wb") as file:
            file.truncate(50_000_000)
        utf16 = Path(folder) / "utf16.yaml"
        utf16.write_bytes(shipped.read_text().encode("utf-16"))
        cases: dict[str, Callable[[], Any]] = {
            "shipped llm_config.yaml (baseline)": lambda: load_config(shipped),
            "353-byte alias bomb": lambda: parse_config(BOMB, "bomb.yaml"),
            "recursive alias": lambda: parse_config("a: &a [1, *a]\n", "r.yaml"),
            "10,000-deep flow nesting": lambda: parse_config("a: " + "[" * 10_000 + "]" * 10_000, "d.yaml"),
            "!!python/name: tag": lambda: parse_config("a: !!python/name:os.system\n", "t.yaml"),
            "NUL byte": lambda: parse_config("a: b\x00\n", "n.yaml"),
            "UTF-16 file": lambda: load_config(utf16),
            "50 MB file": lambda: load_config(big),
            "1 MiB of comments": lambda: parse_config("#" * (1024 * 1024 - 1), "c.yaml"),
        }
        base = min(measure(cases["shipped llm_config.yaml (baseline)"])[0] for _ in range(5))  # warm
        for name, run in cases.items():
            elapsed, peak, outcome = measure(run)
            print(
                f"{name:<36} {elapsed * 1000:8.2f} ms ({elapsed / base:6.1f}x)  peak {peak / 1e6:6.2f} MB  {outcome}"
            )


if __name__ == "__main__":
    main()
