"""``validate``, ``plan``, ``models`` and ``schema``: what the config says, without calling a model.

None of these import litellm: they read the config, LiteLLM's price table as a file and the
environment, so they run in a second on a machine with no keys and no network.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from llmcfg.cli.output import fitted_table, load_config, money, table_width

if TYPE_CHECKING:
    from llmcfg.cli.main import Register
    from llmcfg.config.plan import PlanRow
    from llmcfg.config.schema import Config

__all__ = ["register"]

EXIT_OK = 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from llmcfg.config.plan import credential_warnings

    config = load_config(args.config)
    for warning in credential_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.source}: ok ({len(config.models)} aliases, {len(config.providers)} providers)")
    return EXIT_OK


def _price_cells(row: PlanRow) -> tuple[str, str]:
    if row.per_image is None or row.input_per_mtok is not None:
        return money(row.input_per_mtok), money(row.output_per_mtok)
    return f"{money(row.per_image)}/img", ""


def _cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from llmcfg.config.plan import plan_rows

    config = load_config(args.config)
    rows = plan_rows(config)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return EXIT_OK
    headers = ["alias", "provider/model", "in $/1M", "out $/1M", "mode", "price"]
    headers += ["context", "vision", "fallbacks", "key"]
    cells = []
    for row in rows:
        price_in, price_out = _price_cells(row)
        cells.append(
            [
                row.alias,
                row.model,
                price_in,
                price_out,
                row.mode,
                row.price_source if row.price_source != "unknown" else "UNKNOWN",
                f"{row.context_window:,}" if row.context_window else "?",
                "yes" if row.vision else "no",
                " → ".join(row.fallbacks) or "-",
                row.keys,
            ]
        )
    width = table_width(wide=160)
    table, dropped = fitted_table(
        f"llmcfg plan: {config.source}",
        headers,
        cells,
        width,
        drop_first=("vision", "context", "price", "mode"),
        fold=("provider/model", "fallbacks", "key"),
    )
    console = Console(width=width)
    console.print(table)
    if dropped:
        console.print(
            f"(left out to fit {width} columns: {', '.join(dropped)}; see `llmcfg models` or --json)"
        )
    unpriced = [row.alias for row in rows if row.price_source == "unknown"]
    if unpriced:
        console.print(
            f"[yellow]no known price for: {', '.join(unpriced)}[/] (cost is taken from the provider when it "
            "reports one; otherwise add price: to the alias)"
        )
    return EXIT_OK


@dataclass(frozen=True)
class ModelEntry:
    """One line of ``llmcfg models``."""

    alias: str
    model: str
    mode: str
    vision: bool
    presets: list[str]
    usable: bool
    status: str  # "yes", "yes (offline)", "no: set OPENAI_API_KEY", "no: pip install ..."


def _presets_of(config: Config) -> dict[str, list[str]]:
    """alias -> the presets that name it (``text/fast``, ``ocr/fast``, ...)."""
    named: dict[str, list[str]] = {}
    kinds = {kind: getattr(config.presets, kind) for kind in ("text", "vision", "image", "embedding")}
    kinds["ocr"] = config.ocr.presets
    for kind, presets in kinds.items():
        if presets is None:
            continue
        for quality in ("fast", "balanced", "best"):
            alias = getattr(presets, quality)
            if alias is not None:
                named.setdefault(alias, []).append(f"{kind}/{quality}")
    return named


def _cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console

    from llmcfg.config.aliases import describe
    from llmcfg.config.plan import key_status
    from llmcfg.routing.compile import compile_router

    config = load_config(args.config)
    unavailable = compile_router(config).unavailable
    presets = _presets_of(config)
    entries = []
    for alias in config.models:
        info = describe(config, alias)
        status = key_status(config, info.provider)
        if alias in unavailable:
            usable = "no: " + (
                "set " + status.removeprefix("missing: ")
                if status.startswith("missing")
                else status.removeprefix("offline: ")
            )
        else:
            usable = "yes (offline)" if status == "offline" else "yes"
        entries.append(
            ModelEntry(
                alias=alias,
                model=info.model,
                mode=info.mode,
                vision=info.vision,
                presets=presets.get(alias, []),
                usable=alias not in unavailable,
                status=usable,
            )
        )
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], indent=2))
        return EXIT_OK
    rows = [
        [
            entry.alias,
            entry.mode + (" + vision" if entry.vision else ""),
            entry.model,
            ", ".join(entry.presets) or "-",
            entry.status,
        ]
        for entry in entries
    ]
    width = table_width(wide=160)
    table, _ = fitted_table(
        f"llmcfg models: {config.source}",
        ["alias", "what", "model", "presets", "usable now"],
        rows,
        width,
        fold=("model", "presets", "usable now", "what"),
    )
    Console(width=width).print(table)
    ready = sum(1 for entry in entries if entry.usable)
    print(f"{ready} of {len(entries)} aliases usable now")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from llmcfg.config.schema import Config

    print(json.dumps(Config.model_json_schema(), indent=2))
    return EXIT_OK


def register(command: Register) -> None:
    validate = command("validate", _cmd_validate, "check a config file; exit 2 on errors")
    validate.add_argument("file", nargs="?", help="config file (same as --config)")
    plan = command("plan", _cmd_plan, "show what each alias compiles to, its prices and key status")
    plan.add_argument("file", nargs="?", help="config file (same as --config)")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    models = command("models", _cmd_models, "list the aliases, what they are and which are usable now")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    command("schema", _cmd_schema, "print the JSON Schema of llm_config.yaml", config=False)
