"""``llmcfg export``: the config in another tool's format (today: a LiteLLM Proxy config.yaml)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llmcfg.cli.files import write_new
from llmcfg.cli.output import load_config

if TYPE_CHECKING:
    from llmcfg.cli.main import Register

__all__ = ["register"]

EXIT_OK = 0


def _cmd_export(args: argparse.Namespace) -> int:
    from llmcfg.export.litellm_proxy import proxy_config

    exported = proxy_config(load_config(args.config))
    for warning in exported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out in (None, "-"):
        sys.stdout.write(exported.to_yaml())
    else:
        out = Path(args.out)
        write_new(out.parent, out.name, exported.to_yaml().encode(), force=args.force)
        print(f"wrote {args.out} ({len(exported.data['model_list'])} deployments)", file=sys.stderr)
    return EXIT_OK


def register(command: Register) -> None:
    export = command("export", _cmd_export, "write the config in another tool's format")
    export.add_argument(
        "format", choices=("litellm-proxy",), help="litellm-proxy: a LiteLLM Proxy config.yaml"
    )
    export.add_argument("out", nargs="?", help="file to write (default: stdout)")
    export.add_argument("--force", action="store_true", help="overwrite the file if it exists")
