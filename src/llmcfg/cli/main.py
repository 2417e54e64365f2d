"""``llmcfg``: validate, plan, schema, chat. Thin: parse, call the library, print.

Any ``LLMCfgError`` becomes one clear line on stderr and exit code 2, never a traceback. Commands
that do not call a model (validate, plan, schema, costs, cache) never import litellm.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmcfg.config.load import default_config_path, load_config
from llmcfg.exceptions import LLMCfgError

if TYPE_CHECKING:
    from llmcfg.money.report import Totals

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 2


def _money(value: float | None, digits: int = 3) -> str:
    return "?" if value is None else f"${value:.{digits}f}"


def _cmd_validate(args: argparse.Namespace) -> int:
    from llmcfg.config.plan import credential_warnings

    config = load_config(args.file)
    for warning in credential_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.source}: ok ({len(config.models)} aliases, {len(config.providers)} providers)")
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from llmcfg.config.plan import plan_rows

    config = load_config(args.file)
    rows = plan_rows(config)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return EXIT_OK
    table = Table(title=f"llmcfg plan: {config.source}")
    for column in (
        "alias",
        "provider/model",
        "mode",
        "in $/1M",
        "out $/1M",
        "price",
        "context",
        "vision",
        "fallbacks",
        "key",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        per_token = row.per_image is None or row.input_per_mtok is not None
        table.add_row(
            row.alias,
            row.model,
            row.mode,
            _money(row.input_per_mtok) if per_token else f"{_money(row.per_image)}/img",
            _money(row.output_per_mtok) if per_token else "",
            row.price_source if row.price_source != "unknown" else "UNKNOWN",
            f"{row.context_window:,}" if row.context_window else "?",
            "yes" if row.vision else "no",
            " → ".join(row.fallbacks) or "-",
            row.keys,
        )
    console = Console(width=max(160, Console().width))
    console.print(table)
    unpriced = [row.alias for row in rows if row.price_source == "unknown"]
    if unpriced:
        console.print(
            f"[yellow]no known price for: {', '.join(unpriced)}[/] (cost is taken from the provider when it "
            "reports one; otherwise add price: to the alias)"
        )
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from llmcfg.config.schema import Config

    print(json.dumps(Config.model_json_schema(), indent=2))
    return EXIT_OK


def _cmd_chat(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    llm = LLM(load_config(args.file))
    result = llm.chat(args.prompt, quality=args.quality, model=args.model)
    print(result.text)
    print(
        f"[{result.alias} · {result.model} · {result.tokens_in}+{result.tokens_out} tokens · "
        f"{_money(result.cost_usd, 6)} ({result.cost_source}) · {result.latency_ms:.0f} ms]",
        file=sys.stderr,
    )
    return EXIT_OK


def _cost_line(result: Any) -> str:
    cached = f" · cached (saved {_money(result.saved_usd, 6)})" if result.cached else ""
    return (
        f"[{result.alias} · {result.model} · {result.tokens_in}+{result.tokens_out} tokens · "
        f"{_money(result.cost_usd, 6)} ({result.cost_source}) · {result.latency_ms:.0f} ms{cached}]"
    )


def _cmd_vision(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    llm = LLM(load_config(args.file))
    result = llm.vision(args.image, args.prompt, quality=args.quality, model=args.model)
    print(result.text)
    print(_cost_line(result) + f" image ≈ {result.image_tokens} tokens", file=sys.stderr)
    return EXIT_OK


def _cmd_ocr(args: argparse.Namespace) -> int:
    import asyncio

    from llmcfg.ocr.batch import ocr_many

    return asyncio.run(
        ocr_many(
            load_config(args.file),
            args.images,
            mode=args.mode,
            out=args.out,
            jobs=args.jobs,
            model=args.model,
        )
    )


def _cmd_imagine(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    llm = LLM(load_config(args.file))
    result = llm.imagine(
        args.prompt,
        quality=args.quality,
        model=args.model,
        size=args.size,
        n=args.n,
        hd=args.hd,
        style=args.style,
    )
    for line in (
        [str(p) for p in result.save(args.out)]
        if args.out
        else [i.url or "(base64 image)" for i in result.images]
    ):
        print(line)
    print(
        f"[{result.alias} · {result.model} · {result.count} image(s) {result.size or ''} {result.quality or ''} · "
        f"{_money(result.cost_usd, 4)} ({result.cost_source}) · {result.latency_ms:.0f} ms]",
        file=sys.stderr,
    )
    return EXIT_OK


def _report_cells(totals: Totals) -> tuple[str, ...]:
    return (
        f"{totals.requests:,}",
        f"{totals.tokens_in:,}",
        f"{totals.tokens_out:,}",
        _money(totals.cost_usd, 4),
        _money(totals.average_cost_usd, 6),
        f"{totals.cache_hit_rate:.0%}",
        f"{totals.errors + totals.blocked:,}",
    )


def _cmd_costs(args: argparse.Namespace) -> int:
    from llmcfg.money.report import parse_since, report_file

    log = args.log
    if log is None:
        config = load_config(args.file)
        if not config.logging.cost_log:
            print(f"error: {config.source} sets no logging.cost_log; pass --log FILE", file=sys.stderr)
            return EXIT_ERROR
        log = config.resolve_path(config.logging.cost_log)
    try:
        since = parse_since(args.since) if args.since else None
        result = report_file(log, by=args.by, since=since)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        print(f"error: cannot read {log}: {error.strerror}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"llm costs by {args.by}: {log}", show_footer=True)
    headers = ("requests", "tokens in", "tokens out", "cost", "avg cost", "cache hits", "errors")
    total = result.total
    table.add_column(args.by, footer="total")
    for header, footer in zip(headers, _report_cells(total), strict=True):
        table.add_column(header, footer=footer, justify="right")
    for key, row in sorted(result.rows.items(), key=lambda item: -item[1].cost_usd):
        table.add_row(key, *_report_cells(row))
    Console(width=max(120, Console().width)).print(table)
    notes = []
    if total.saved_usd:
        notes.append(f"saved by the cache: {_money(total.saved_usd, 4)}")
    if total.unpriced:
        notes.append(f"{total.unpriced:,} calls had no known price")
    if result.corrupt:
        notes.append(f"{result.corrupt:,} corrupt lines skipped")
    if notes:
        print("; ".join(notes))
    return EXIT_OK


def _cmd_cache(args: argparse.Namespace) -> int:
    from llmcfg.cache.store import Caches

    config = load_config(args.file)
    settings = config.cache
    caches = Caches(
        config.resolve_path(settings.dir),
        image_ttl_s=settings.image_ttl_s,
        response_ttl_s=settings.response_ttl_s,
    )
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
    caches.close()
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from llmcfg.export.litellm_proxy import proxy_config

    exported = proxy_config(load_config(args.file))
    for warning in exported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out in (None, "-"):
        sys.stdout.write(exported.to_yaml())
    else:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(exported.to_yaml())
        print(f"wrote {args.out} ({len(exported.data['model_list'])} deployments)", file=sys.stderr)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcfg", description="One YAML file to a production LLM setup.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    file_help = "config file (default: $LLMCFG_CONFIG, else ./llm_config.yaml)"
    command("validate", _cmd_validate, "check a config file; exit 2 on errors").add_argument(
        "file", nargs="?", help=file_help
    )
    plan = command("plan", _cmd_plan, "show what each alias compiles to, its prices and key status")
    plan.add_argument("file", nargs="?", help=file_help)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    command("schema", _cmd_schema, "print the JSON Schema of llm_config.yaml")
    chat = command("chat", _cmd_chat, "send one prompt")
    chat.add_argument("prompt")
    choice = chat.add_mutually_exclusive_group()
    choice.add_argument("--quality", choices=("fast", "balanced", "best"))
    choice.add_argument("--model", help="an alias from the config")
    chat.add_argument("--config", dest="file", help=file_help)
    vision = command("vision", _cmd_vision, "ask about one image (path or URL)")
    vision.add_argument("image")
    vision.add_argument("prompt")
    pick = vision.add_mutually_exclusive_group()
    pick.add_argument("--quality", choices=("fast", "balanced", "best"))
    pick.add_argument("--model", help="an alias from the config")
    vision.add_argument("--config", dest="file", help=file_help)
    ocr = command("ocr", _cmd_ocr, "read the text of images, several at once")
    ocr.add_argument("images", nargs="+")
    ocr.add_argument("--mode", help="tiny, small, base, gundam or a mode of your config")
    ocr.add_argument("--model", help="an alias from the config")
    ocr.add_argument("--out", help="folder for one .txt (or .md) file per image; default: print")
    ocr.add_argument("--jobs", type=int, default=4, help="images read at once (default 4)")
    ocr.add_argument("--config", dest="file", help=file_help)
    imagine = command(
        "imagine", _cmd_imagine, "generate images; prints paths (with --out) or URLs, and the cost"
    )
    imagine.add_argument("prompt")
    which = imagine.add_mutually_exclusive_group()
    which.add_argument("--quality", choices=("fast", "balanced", "best"))
    which.add_argument("--model", help="an alias from the config")
    imagine.add_argument("--size", help="e.g. 1024x1024 (checked against what the model accepts)")
    imagine.add_argument("--n", type=int, default=1, help="how many images")
    imagine.add_argument("--hd", action="store_true", help="the model's highest quality")
    imagine.add_argument("--style", choices=("vivid", "natural"))
    imagine.add_argument("--out", help="folder to save the images into (named by content hash)")
    imagine.add_argument("--config", dest="file", help=file_help)
    costs = command("costs", _cmd_costs, "report spend from the JSONL cost log")
    costs.add_argument("--log", help="the JSONL file (default: logging.cost_log of the config)")
    costs.add_argument("--since", help="7d, 12h, 30m, or a date such as 2026-11-01")
    costs.add_argument("--by", choices=("model", "alias", "kind", "day"), default="model")
    costs.add_argument("--json", action="store_true", help="machine-readable output")
    costs.add_argument("--config", dest="file", help=file_help)
    cache = command("cache", _cmd_cache, "show, clear or prune the image and response caches")
    cache.add_argument("action", choices=("stats", "clear", "prune"))
    cache.add_argument("--config", dest="file", help=file_help)
    export = command("export", _cmd_export, "write the config in another tool's format")
    export.add_argument(
        "format", choices=("litellm-proxy",), help="litellm-proxy: a LiteLLM Proxy config.yaml"
    )
    export.add_argument("out", nargs="?", help="file to write (default: stdout)")
    export.add_argument("--config", dest="file", help=file_help)
    return parser


def _configure_logging() -> None:
    """The CLI is an application: its llm.call events go to stderr, its answers to stdout."""
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = _parser().parse_args(argv)
    if getattr(args, "file", None) is None and args.command != "schema":
        args.file = default_config_path()
    _configure_logging()
    try:
        code: int = args.handler(args)
    except LLMCfgError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
