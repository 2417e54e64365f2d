"""Mutation testing of llmcfg's core modules with mutmut: the score (killed / all mutants) per group,
and the surviving mutants to read (``mutmut show NAME`` in the printed folder).

A mutant is the code with one small change (a comparison flipped, a constant changed, a call
dropped). A test suite that lets it pass does not check what that line does. Each group mutates its
modules and runs only the tests named for it (mutmut runs, per mutant, just the tests that reach
the mutated function, stopping at the first failure).

Slow: minutes per group on 2 cores, the call pipeline the longest. Not part of .ci/run.

    python scripts/mutation.py                  # every group
    python scripts/mutation.py pipeline events  # some groups
    python scripts/mutation.py --list           # the groups and their modules

Each group runs in a copy of the repository under a temporary folder (kept with ``--keep``), so the
work tree is never touched. Needs the dev extra (mutmut).
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# group -> (modules mutated, tests run against them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "pipeline": (["calls/pipeline.py"], ["tests/test_call_protocol.py"]),
    "streams": (
        ["calls/streaming.py"],
        ["tests/test_stream_fields.py", "tests/test_call_protocol.py", "tests/test_text_surface.py"],
    ),
    # the fields of a result and its event, one fast call each, before the protocol's invariants
    "outcome": (
        ["calls/outcome.py"],
        ["tests/test_call_fields.py", "tests/test_call_protocol.py", "tests/test_chat.py"],
    ),
    "core": (
        ["calls/core.py"],
        [
            "tests/test_call_start.py",
            "tests/test_next_option.py",
            "tests/test_cache_keys.py",
            "tests/test_call_protocol.py",
            "tests/test_budgets.py",
            "tests/test_chat.py",
        ],
    ),
    "events": (["money/events.py"], ["tests/test_events.py"]),
    # the fetch protocol (sync and async share it) and the deny table; fetch.py drives them
    "fetch": (
        ["images/fetch_steps.py", "images/addresses.py"],
        ["tests/test_fetch_steps.py", "tests/test_fetch_address_table.py", "tests/test_fetch_leaks.py"],
    ),
    "fetch-io": (
        ["images/fetch.py"],
        [
            "tests/test_fetch.py",
            "tests/test_fetch_limits.py",
            "tests/test_fetch_tls.py",
            "tests/test_fetch_intake.py",
            "tests/test_fetch_connections.py",
        ],
    ),
    "decode": (["images/decode.py"], ["tests/test_decode.py"]),
    # the ledgers (SQLite, Redis) and the guard: their own fast tests first, then the call path
    "budget": (
        ["money/budget/stores.py", "money/budget/guard.py", "money/budget/redis_store.py"],
        [
            "tests/test_budget_guard.py",
            "tests/test_budget_ledger.py",
            "tests/test_budget_stores.py",
            "tests/test_budgets.py",
        ],
    ),
    # the Redis ledger alone (its own connections since session 5): a quicker re-run than "budget"
    "budget-redis": (
        ["money/budget/redis_store.py"],
        [
            "tests/test_redis_connections.py",
            "tests/test_budget_ledger.py",
            "tests/test_budget_stores.py",
            "tests/test_budgets.py",
        ],
    ),
    # the price rules one by one (fast, no HTTP), then the calls that apply them end to end
    "cost": (
        ["money/cost.py"],
        [
            "tests/test_cost_rules.py",
            "tests/test_costs_report.py",
            "tests/test_chat.py",
            "tests/test_imagine.py",
        ],
    ),
    "envrefs": (["config/envrefs.py"], ["tests/test_envrefs.py"]),
    # LiteLLM's errors onto llmcfg's, and the scrubber that keeps keys out of every message and chain
    "errors": (
        ["routing/errors.py"],
        [
            "tests/test_key_shapes.py",
            "tests/test_error_messages.py",
            "tests/test_error_chain.py",
            "tests/test_fake_provider.py",
            "tests/test_text_surface.py",
        ],
    ),
    "validation": (
        ["config/validation.py"],
        ["tests/test_config_errors.py", "tests/test_config_validation.py", "tests/test_model_checks.py"],
    ),
    # the response cache and its key: the key is computed in calls/core.py (only that method is
    # mutated here; the rest of core.py is the "core" group's)
    "cache": (
        ["cache/store.py", "cache/encoding.py", "calls/core.py"],
        ["tests/test_cache.py", "tests/test_cache_keys.py"],
    ),
}
# groups that mutate only some functions of their modules: mutmut's mutant-name patterns
ONLY: dict[str, list[str]] = {
    "cache": ["llmcfg.cache.*", "llmcfg.calls.core.*_cache_key__mutmut_*"],
}
COPIED = ["src", "tests", "docs", "examples", "benchmarks", "pyproject.toml", "README.md", "llm_config.yaml"]


def mutmut(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mutmut", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)


def run_group(
    name: str, keep: bool, children: int, only: list[str] | None = None
) -> tuple[int, int, list[str]]:
    """``only``: mutmut's mutant-name patterns, a subset of the group (when a whole run does not fit)."""
    modules, tests = GROUPS[name]
    only = only or ONLY.get(name, [])
    folder = Path(tempfile.mkdtemp(prefix=f"llmcfg-mutation-{name}-"))
    for item in COPIED:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, folder / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, folder / item)
    only = "\n    ".join(f"src/llmcfg/{module}" for module in modules)
    selection = "\n    ".join(tests)
    # LiteLLM's native runtime does not survive fork(): each mutant runs in a child of a fork server
    # that has imported litellm (importing is fork-safe, a first Router call is not).
    (folder / "preload.txt").write_text("llmcfg\nlitellm\n")
    (folder / "setup.cfg").write_text(
        "[mutmut]\nsource_paths = src\n"
        f"only_mutate =\n    {only}\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args = -p no:cacheprovider\n"
        # mutmut copies tests/ into its own folder; the tests also read the docs and the sample files
        "also_copy =\n    docs\n    examples\n    README.md\n    llm_config.yaml\n"
        "process_isolation = forkserver\nforkserver_warmup = import\npreload_modules_file = preload.txt\n"
    )
    print(f"== {name}: mutating {', '.join(modules)}; tests {', '.join(tests)} (in {folder})", flush=True)
    done = mutmut(folder, "run", "--max-children", str(children), *only)
    if done.returncode not in (0, 1):
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"mutmut failed for group {name}")
    # every mutant's status (``--all true`` also lists the killed ones), limited to the group's patterns
    patterns = only or ["*"]
    status: dict[str, str] = {}
    for line in mutmut(folder, "results", "--all", "true").stdout.splitlines():
        mutant, _, state = line.strip().rpartition(": ")
        if mutant and any(fnmatch.fnmatchcase(mutant, pattern) for pattern in patterns):
            status[mutant] = state
    # "no tests": no selected test reaches the mutated line, so nothing could kill it. A timeout (a
    # mutant that makes a test hang) is listed too: re-run it alone to tell a hang from a slow machine.
    not_killed = ("survived", "timeout", "suspicious", "no tests")
    survivors = [mutant for mutant, state in status.items() if state in not_killed]
    killed = sum(state == "killed" for state in status.values())
    total = killed + len(survivors)
    if not keep and not survivors:
        shutil.rmtree(folder, ignore_errors=True)
    if status and not any(state in ("killed", "survived", "timeout") for state in status.values()):
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"mutmut checked no mutant of group {name} (see its output above; folder {folder})")
    return killed, total, survivors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"default: all of {', '.join(GROUPS)}")
    parser.add_argument("--list", action="store_true", help="print the groups and their modules")
    parser.add_argument("--keep", action="store_true", help="keep each group's folder (for `mutmut show`)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--mutants",
        nargs="+",
        metavar="PATTERN",
        help="only the mutants whose names match (e.g. 'llmcfg.calls.core.*resolve__mutmut_*'): a subset",
    )
    args = parser.parse_args()
    if args.list:
        for name, (modules, tests) in GROUPS.items():
            print(f"{name:<11} {' '.join(modules)}  <-  {' '.join(tests)}")
        return
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown group(s) {sorted(unknown)}; groups: {', '.join(GROUPS)}")
    all_killed = all_total = 0
    for name in args.groups or list(GROUPS):
        killed, total, survivors = run_group(name, args.keep, args.children, args.mutants)
        all_killed, all_total = all_killed + killed, all_total + total
        print(f"{name:<11} {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %)", flush=True)
        for survivor in survivors:
            print(f"    survived: {survivor}")
    print(f"mutation score: {all_killed}/{all_total} killed ({100 * all_killed / max(all_total, 1):.1f} %)")


if __name__ == "__main__":
    main()
