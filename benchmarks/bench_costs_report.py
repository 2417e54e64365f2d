"""`llmcfg costs` and `llmcfg costs --what-if` on a generated 1,000,000-line cost log, against DuckDB's
`read_json_auto` + GROUP BY on the same file (when duckdb is installed: `pip install duckdb`; it is a
benchmark peer, not a dependency) and a plain `json.loads` loop.

Each side runs as a fresh process, as a user runs it: the `llmcfg costs` command itself, and a Python
process that imports duckdb and runs the query; so both pay an interpreter start and their imports.
Runs alternate between the sides, and each side's best of ``rounds`` is kept (the machine's noise only
ever adds time). Target (issue 15): `costs` and `--what-if` <= 2x DuckDB. Memory: peak traced memory of
the report at 100k and 1M lines (flat: the two peaks are alike).
Run: python benchmarks/bench_costs_report.py [rounds]
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from llmcfg.money.report import report_file

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-bench}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
  llama: {model: openai/gpt-4.1-mini}
presets:
  text: {fast: mini, balanced: gpt4o, best: llama}
logging: {cost_log: costs.jsonl}
"""
_DUCKDB = """
import sys, duckdb
query = (
    "SELECT model, count(*), sum(tokens_in), sum(tokens_out), sum(cost_usd), sum(saved_usd), "
    "sum(CASE WHEN cached THEN 1 ELSE 0 END) FROM read_json_auto(?) GROUP BY model"
)
print(duckdb.connect().execute(query, [sys.argv[1]]).fetchall())
"""
_JSON_LOOP = """
import json, sys
totals = {}
with open(sys.argv[1]) as handle:
    for line in handle:
        event = json.loads(line)
        totals[event["model"]] = totals.get(event["model"], 0.0) + (event["cost_usd"] or 0.0)
print(totals)
"""


def write_log(path: Path, lines: int) -> None:
    """A cost log like a busy month's: three models and aliases, 2 % errors, 20 % cache hits."""
    rng = random.Random(7)
    models = ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1-mini"]
    with path.open("w") as handle:
        for index in range(lines):
            alias = rng.choice(["mini", "gpt4o", "llama"])
            event = {
                "event": "llm.call",
                "ts": 1_795_000_000 + index,
                "request_id": f"{index:032x}",
                "kind": rng.choice(["chat", "vision", "ocr"]),
                "requested": rng.choice(["text/fast", "text/balanced", alias]),
                "alias": alias,
                "model": rng.choice(models),
                "provider": "openai",
                "tokens_in": rng.randint(10, 4000),
                "tokens_out": rng.randint(1, 800),
                "cost_usd": rng.random() / 1000,
                "cost_source": "table",
                "cached": rng.random() < 0.2,
                "saved_usd": 0.0,
                "latency_ms": rng.random() * 2000,
                "status": "ok" if rng.random() < 0.98 else "error",
                "error": None,
                "fallbacks_tried": [],
            }
            if rng.random() < 0.3:
                event["cached_tokens"] = rng.randint(0, event["tokens_in"])  # type: ignore[arg-type]
            handle.write(json.dumps(event) + "\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the process and everything it waited for (threads, workers)."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def _has_duckdb() -> bool:
    return subprocess.run([sys.executable, "-c", "import duckdb"], capture_output=True).returncode == 0


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    llmcfg_cli = [sys.executable, "-m", "llmcfg.cli"]
    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder) / "big.jsonl", Path(folder) / "small.jsonl"
        write_log(big, 1_000_000)
        write_log(small, 100_000)
        config, other = Path(folder) / "llm_config.yaml", Path(folder) / "other.yaml"
        config.write_text(CONFIG)
        other.write_text(CONFIG.replace("balanced: gpt4o", "balanced: mini"))
        costs = [*llmcfg_cli, "costs", "--config", str(config), "--log", str(big), "--by", "model", "--json"]
        sides = {
            "llmcfg costs": costs,
            "llmcfg costs --what-if": [*costs, "--what-if", str(other)],
            "json.loads loop": [sys.executable, "-c", _JSON_LOOP, str(big)],
        }
        if _has_duckdb():
            sides["DuckDB"] = [sys.executable, "-c", _DUCKDB, str(big)]
        walls: dict[str, list[float]] = {name: [] for name in sides}
        cpus: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(rounds + 1):  # the first round also warms the page cache
            for name, command in sides.items():
                wall, cpu = _timed(command)
                walls[name].append(wall)
                cpus[name].append(cpu)
        best = {name: min(times) for name, times in walls.items()}
        least_cpu = {name: min(times) for name, times in cpus.items()}
        peaks = []
        for path in (small, big):
            tracemalloc.start()
            report_file(path, by="day")
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
    print(
        f"1,000,000-line log, best of {rounds + 1} fresh processes each (wall; CPU of all its threads/workers):"
    )
    for name, seconds in best.items():
        print(f"  {name:<24} {seconds:.2f} s wall, {least_cpu[name]:.2f} s CPU")
    duck = best.get("DuckDB")
    if duck is None:
        print("DuckDB: not installed (pip install duckdb in your venv to compare)")
    else:
        for clock, table in (("wall", best), ("CPU", least_cpu)):
            print(
                f"{clock:>4}: llmcfg costs = {table['llmcfg costs'] / table['DuckDB']:.2f}x DuckDB; "
                f"--what-if = {table['llmcfg costs --what-if'] / table['DuckDB']:.2f}x (target <= 2x)"
            )
    print(
        f"peak traced memory (costs --by day): {peaks[0]:.2f} MB at 100k lines, {peaks[1]:.2f} MB at 1M lines"
    )


if __name__ == "__main__":
    main()
