"""``costs``, ``log`` and ``cache``: what happened, read from the JSONL cost log and the caches.

None of these import litellm. ``log`` is the per-call view (like ``llm logs``), ``costs`` the totals.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmcfg.cli.output import UsageError, fitted_table, load_config, money, table_width

if TYPE_CHECKING:
    from llmcfg.cli.main import Register

__all__ = ["register"]

EXIT_OK = 0
EXIT_ERROR = 2


def _log_path(args: argparse.Namespace) -> str:
    """--log, else logging.cost_log of the config (relative to the config file's folder)."""
    if args.log is not None:
        return str(args.log)
    config = load_config(args.config)
    if not config.logging.cost_log:
        raise UsageError(f"{config.source} sets no logging.cost_log; pass --log FILE")
    return config.resolve_path(config.logging.cost_log)


def _cmd_costs(args: argparse.Namespace) -> int:
    from llmcfg.money.report import parse_since, report_file

    log = _log_path(args)
    if args.what_if:
        return _what_if(args, log)
    try:
        result = report_file(log, by=args.by, since=parse_since(args.since) if args.since else None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot read {log}: {error.strerror}") from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        from llmcfg.money.report_view import print_report

        print_report(result, log)
    return EXIT_OK


def _what_if(args: argparse.Namespace, log: str) -> int:
    """The log is read by worker processes while the other config loads (its schema's import is
    most of the command's start)."""
    from llmcfg.money.report import parse_since
    from llmcfg.money.whatif import replay, start_scan

    try:
        pending = start_scan(log, since=parse_since(args.since) if args.since else None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot read {log}: {error.strerror}") from None
    with pending:
        other = load_config(args.what_if)
        try:
            replayed = replay(pending.result(), other)
        except OSError as error:
            raise UsageError(f"cannot read {log}: {error.strerror}") from None
    if args.json:
        print(json.dumps(replayed.as_dict(), indent=2))
    else:
        from llmcfg.money.report_view import print_what_if

        print_what_if(replayed, log, args.what_if)
    return EXIT_OK


def last_calls(path: str, count: int) -> tuple[list[dict[str, Any]], int]:
    """The last ``count`` ``llm.call`` events of the log, oldest first, and how many lines were
    corrupt. Streams the file: memory holds ``count`` events, whatever the log's size."""
    kept: deque[dict[str, Any]] = deque(maxlen=max(0, count))
    corrupt = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                corrupt += 1
                continue
            if isinstance(event, dict) and event.get("event") == "llm.call":
                kept.append(event)
    return list(kept), corrupt


def _when(event: dict[str, Any]) -> str:
    stamp = event.get("ts")
    if not isinstance(stamp, (int, float)):
        return "?"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _outcome(event: dict[str, Any]) -> str:
    status = str(event.get("status") or "?")
    if status == "ok":
        return "cached" if event.get("cached") else "ok"
    return f"{status}: {event.get('error') or '?'}"


def _cmd_log(args: argparse.Namespace) -> int:
    log = _log_path(args)
    try:
        events, corrupt = last_calls(log, args.n)
    except OSError as error:
        raise UsageError(f"cannot read {log}: {error.strerror}") from None
    if args.json:
        for event in events:
            print(json.dumps(event))
        return EXIT_OK
    from rich.console import Console

    rows = [
        [
            _when(event),
            str(event.get("kind") or "-"),
            str(event.get("alias") or "-"),
            str(event.get("model") or "-"),
            f"{event.get('tokens_in') or 0}+{event.get('tokens_out') or 0}",
            money(event.get("cost_usd"), 6),
            f"{event.get('latency_ms') or 0:.0f}",
            _outcome(event),
        ]
        for event in events
    ]
    width = table_width(wide=160)
    table, _ = fitted_table(
        f"last {len(events)} calls: {log}",
        ["time", "kind", "alias", "model", "tokens", "cost", "ms", "status"],
        rows,
        width,
        drop_first=("kind", "ms"),
        fold=("model", "status", "alias"),
    )
    Console(width=width).print(table)
    if corrupt:
        print(f"{corrupt:,} corrupt lines skipped")
    return EXIT_OK


def _cmd_cache(args: argparse.Namespace) -> int:
    from llmcfg.cache.backends import open_caches

    caches = open_caches(load_config(args.config))  # cache.store: disk or redis
    try:
        if args.action == "clear":
            print(f"removed {caches.clear()} entries from {caches.directory}")
        elif args.action == "prune":
            print(f"removed {caches.prune()} expired entries from {caches.directory}")
        else:
            for stats in caches.stats():
                print(
                    f"{stats.name:<9} entries={stats.entries} bytes={stats.bytes:,} hits={stats.hits} "
                    f"misses={stats.misses} hit_rate={stats.hit_rate:.1%}"
                )
    finally:
        caches.close()
    return EXIT_OK


def register(command: Register) -> None:
    costs = command("costs", _cmd_costs, "report spend from the JSONL cost log")
    costs.add_argument("--log", help="the JSONL file (default: logging.cost_log of the config)")
    costs.add_argument("--since", help="7d, 12h, 30m, or a date such as 2026-11-01")
    costs.add_argument("--by", choices=("model", "alias", "kind", "day"), default="model")
    costs.add_argument("--json", action="store_true", help="machine-readable output")
    costs.add_argument(
        "--what-if",
        metavar="OTHER_YAML",
        help="replay the log's calls under another config's presets and prices",
    )
    log = command("log", _cmd_log, "show the last calls from the JSONL cost log")
    log.add_argument("-n", type=int, default=20, help="how many calls (default 20)")
    log.add_argument("--log", help="the JSONL file (default: logging.cost_log of the config)")
    log.add_argument("--json", action="store_true", help="the events as JSON lines")
    cache = command("cache", _cmd_cache, "show, clear or prune the image and response caches")
    cache.add_argument("action", choices=("stats", "clear", "prune"))
