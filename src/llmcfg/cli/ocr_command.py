"""``llmcfg ocr`` over many images: bounded concurrency, a progress bar on a terminal, one output
file per image, and the cost total at the end. A failed image is reported and the rest go on.

The bar shows done/total, the running cost and the failures; pages whose cost is unknown are never
added as $0 but shown as ``?`` with their count (``$0.0012 + ? (2 unpriced)``). It lives on the CLI's one stderr
console, which event lines (``-v``) are printed through too, so they appear above the bar instead
of glued onto it. Output files are checked before any model is called (an existing file stops the
run unless ``--force``: no money is spent on pages whose answer would be thrown away) and written
with ``cli.files.write_new`` (no overwrite, no symlink followed, nothing outside ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcfg.cli.call_commands import QUALITY_CHOICES
from llmcfg.cli.files import OutputExistsError, exists, write_new
from llmcfg.cli.output import load_config, stderr_console
from llmcfg.exceptions import LLMCfgError, UnknownAliasError

if TYPE_CHECKING:
    from llmcfg.cli.main import Register
    from llmcfg.results import OCRResult

__all__ = ["ocr_many", "register"]

EXIT_OK = 0
EXIT_ERROR = 2


def _output_names(images: list[str], mode: str) -> list[str]:
    """``<stem>.txt`` (``.md`` for gundam) per image; ``<stem>-2.txt`` ... when two inputs share a stem."""
    suffix = "md" if mode == "gundam" else "txt"
    taken: set[str] = set()
    names = []
    for image in images:
        stem = Path(image.split("?", 1)[0].rstrip("/")).stem.lstrip(".") or "image"
        name, number = f"{stem}.{suffix}", 1
        while name in taken:
            number += 1
            name = f"{stem}-{number}.{suffix}"
        taken.add(name)
        names.append(name)
    return names


def _progress(total: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("OCR"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("· {task.fields[cost]}"),
        TextColumn("· {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    )
    task = progress.add_task("OCR", total=total, cost="$0.000000", failed=0)
    return progress, task


def _check_choices(llm: Any, mode: str, model: str | None) -> None:
    """A wrong ``--mode`` or ``--model`` is one error before any image is read, not the same error
    once per image (the library checks both per call, where one image is all it sees)."""
    from llmcfg.config.positions import closest
    from llmcfg.ocr.modes import DEFAULT_MODES

    modes = llm.config.ocr.modes or DEFAULT_MODES
    if mode not in modes:
        raise UnknownAliasError(
            f"unknown OCR mode {mode!r}{closest(mode, list(modes))}; modes: {', '.join(modes)}"
        )
    if model is not None:
        llm.model_info(model)  # UnknownAliasError, with the closest alias


async def ocr_many(
    llm: Any,
    images: list[str],
    *,
    mode: str | None,
    out: str | None,
    jobs: int,
    model: str | None = None,
    quality: str | None = None,
    force: bool = False,
) -> int:
    """OCR every image; exit code 0 when all succeeded, 2 otherwise."""
    from llmcfg.money.report import money_text  # unknown costs as "?" (n unpriced), never as $0

    mode_name = mode or llm.config.ocr.default_mode
    _check_choices(llm, mode_name, model)
    names = _output_names(images, mode_name)
    folder = Path(out) if out is not None else None
    if folder is not None and not force:
        there = [name for name in names if exists(folder, name)]
        if there:
            raise OutputExistsError(
                f"{len(there)} output file(s) already exist in {folder} ({', '.join(there[:3])}"
                f"{', ...' if len(there) > 3 else ''}): pass --force to overwrite them"
            )
    limit = asyncio.Semaphore(max(1, jobs))
    results: dict[int, OCRResult | Exception] = {}
    progress, task = _progress(len(images)) if sys.stderr.isatty() else (None, None)
    spent, failed, unpriced = 0.0, 0, 0

    async def one(index: int, image: str) -> None:
        nonlocal spent, failed, unpriced
        async with limit:
            try:
                result = await llm.aocr(image, mode, model=model, quality=quality)
                results[index] = result
                if result.cost_usd is None:  # unknown is not $0: shown as "?" with the count
                    unpriced += 1
                else:
                    spent += result.cost_usd
            except LLMCfgError as error:
                results[index] = error
                failed += 1
            if progress is not None:
                progress.update(task, advance=1, cost=money_text(spent, unpriced, 6), failed=failed)

    if progress is not None:
        progress.start()
    try:
        await asyncio.gather(*(one(index, image) for index, image in enumerate(images)))
    finally:
        if progress is not None:
            progress.stop()
    for index, image in enumerate(images):
        result = results[index]
        if isinstance(result, Exception):
            print(f"error: {image}: {result}", file=sys.stderr)
            continue
        if folder is None:
            print(f"==> {image} <==\n{result.text}" if len(images) > 1 else result.text)
            continue
        try:
            print(write_new(folder, names[index], (result.text + "\n").encode(), force=force))
        except (OSError, OutputExistsError) as error:
            failed += 1
            print(f"error: {image}: cannot write {folder / names[index]}: {error}", file=sys.stderr)
    summary = f"[{len(images) - failed}/{len(images)} images · total {money_text(spent, unpriced, 6)}"
    print(summary + (f" · {failed} failed]" if failed else "]"), file=sys.stderr)
    return EXIT_OK if failed == 0 else EXIT_ERROR


def _cmd_ocr(args: argparse.Namespace) -> int:
    from llmcfg.calls.client import LLM
    from llmcfg.reload import reload_on_sighup

    llm = LLM(load_config(args.config))
    with reload_on_sighup(llm):  # a long batch picks up an edited config on SIGHUP
        return asyncio.run(
            ocr_many(
                llm,
                args.images,
                mode=args.mode,
                out=args.out,
                jobs=args.jobs,
                model=args.model,
                quality=args.quality,
                force=args.force,
            )
        )


def register(command: Register) -> None:
    ocr = command("ocr", _cmd_ocr, "read the text of images, several at once")
    ocr.add_argument("images", nargs="+")
    ocr.add_argument("--mode", help="tiny, small, base, gundam or a mode of your config")
    choice = ocr.add_mutually_exclusive_group()  # as for chat and vision
    choice.add_argument(
        "--quality",
        choices=QUALITY_CHOICES,
        help="the OCR preset to use (default: ocr.quality of the config)",
    )
    choice.add_argument("--model", help="an alias from the config")
    ocr.add_argument("--out", help="folder for one .txt (or .md) file per image; default: print")
    ocr.add_argument("--force", action="store_true", help="overwrite files that are already in --out")
    ocr.add_argument("--jobs", type=int, default=4, help="images read at once (default 4)")
