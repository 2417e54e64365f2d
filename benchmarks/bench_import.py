"""`import llmcfg` against `import litellm`, each in fresh interpreters (median of N runs).

Target: llmcfg's import under 5% of litellm's, and litellm never imported by it.
Run: python benchmarks/bench_import.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CODE = (
    "import os, sys, time\nos.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True')\n"
    "t = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t, 'litellm' in sys.modules)\n"
)


def measure(module: str, runs: int) -> tuple[float, bool]:
    times, imported = [], False
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CODE.format(module=module)], capture_output=True, text=True, check=True
        )
        seconds, flag = out.stdout.split()
        times.append(float(seconds))
        imported = imported or flag == "True"
    return statistics.median(times), imported


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ours, pulled_litellm = measure("llmcfg", runs)
    theirs, _ = measure("litellm", runs)
    print(f"import llmcfg : {ours * 1000:8.1f} ms (median of {runs}); imports litellm: {pulled_litellm}")
    print(f"import litellm: {theirs * 1000:8.1f} ms (median of {runs})")
    print(f"ratio llmcfg/litellm: {ours / theirs:.4f} (target < 0.05)")


if __name__ == "__main__":
    main()
