"""``chat``, ``vision`` and ``imagine``: one call each; the answer on stdout, the cost on stderr.

The answer alone goes to stdout so that ``llmcfg chat ... > answer.txt`` or a pipe gets data only.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from llmcfg.cli.output import UsageError, cost_line, load_config, money

if TYPE_CHECKING:
    from llmcfg.cli.main import Register

__all__ = ["register"]

EXIT_OK = 0
QUALITY_CHOICES = ("fast", "balanced", "best")


def _prompt(argument: str) -> str:
    """The prompt as given, or stdin for ``-`` (so ``cat notes.txt | llmcfg chat -`` works)."""
    text = sys.stdin.read() if argument == "-" else argument
    if not text.strip():
        where = "stdin was empty" if argument == "-" else "the prompt is empty"
        raise UsageError(f"{where}: pass the prompt as an argument, or '-' and pipe it in")
    return text


def _cmd_chat(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    prompt = _prompt(args.prompt)
    llm = LLM(load_config(args.config))
    if args.stream:
        stream = llm.stream(prompt, system=args.system, quality=args.quality, model=args.model)
        ended_with_newline = True
        for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
            ended_with_newline = delta.endswith("\n")
        if not ended_with_newline:
            sys.stdout.write("\n")
        result = stream.result
    else:
        result = llm.chat(prompt, system=args.system, quality=args.quality, model=args.model)
        print(result.text)
    print(cost_line(result), file=sys.stderr)
    return EXIT_OK


def _cmd_vision(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    llm = LLM(load_config(args.config))
    result = llm.vision(args.image, _prompt(args.prompt), quality=args.quality, model=args.model)
    print(result.text)
    print(cost_line(result) + f" image ≈ {result.image_tokens} tokens", file=sys.stderr)
    return EXIT_OK


def _cmd_imagine(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM

    llm = LLM(load_config(args.config))
    result = llm.imagine(
        _prompt(args.prompt),
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
        f"{money(result.cost_usd, 4)} ({result.cost_source}) · {result.latency_ms:.0f} ms]",
        file=sys.stderr,
    )
    return EXIT_OK


def _choice(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quality", choices=QUALITY_CHOICES, help="the preset to use")
    group.add_argument("--model", help="an alias from the config")


def register(command: Register) -> None:
    chat = command("chat", _cmd_chat, "send one prompt; the answer on stdout, the cost on stderr")
    chat.add_argument("prompt", help="the prompt, or - to read it from stdin")
    _choice(chat)
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    vision = command("vision", _cmd_vision, "ask about one image (path or URL)")
    vision.add_argument("image")
    vision.add_argument("prompt", help="the question, or - to read it from stdin")
    _choice(vision)
    imagine = command(
        "imagine", _cmd_imagine, "generate images; prints paths (with --out) or URLs, and the cost"
    )
    imagine.add_argument("prompt", help="the description, or - to read it from stdin")
    _choice(imagine)
    imagine.add_argument("--size", help="e.g. 1024x1024 (checked against what the model accepts)")
    imagine.add_argument("--n", type=int, default=1, help="how many images")
    imagine.add_argument("--hd", action="store_true", help="the model's highest quality")
    imagine.add_argument("--style", choices=("vivid", "natural"))
    imagine.add_argument("--out", help="folder to save the images into (named by content hash)")
