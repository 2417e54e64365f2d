"""``llmcfg ocr`` over many images: bounded concurrency, a progress bar on a terminal, one output
file per image, and the cost total at the end. A failed image is reported and the rest go on."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from llmcfg.calls.client import LLM
from llmcfg.config.schema import Config
from llmcfg.exceptions import LLMCfgError
from llmcfg.results import OCRResult

__all__ = ["ocr_many"]


def _output_path(out: str, image: str, mode: str, taken: set[Path]) -> Path:
    """``<out>/<stem>.txt`` (``.md`` for gundam); ``<stem>-2.txt`` ... when two inputs share a stem."""
    stem = Path(image.split("?", 1)[0].rstrip("/")).stem or "image"
    suffix = "md" if mode == "gundam" else "txt"
    path, number = Path(out) / f"{stem}.{suffix}", 1
    while path in taken:
        number += 1
        path = Path(out) / f"{stem}-{number}.{suffix}"
    taken.add(path)
    return path


async def ocr_many(
    config: Config,
    images: list[str],
    *,
    mode: str | None,
    out: str | None,
    jobs: int,
    model: str | None = None,
) -> int:
    """OCR every image; exit code 0 when all succeeded, 2 otherwise."""
    llm = LLM(config)
    limit = asyncio.Semaphore(max(1, jobs))
    results: dict[str, OCRResult | LLMCfgError] = {}
    progress = None
    if sys.stderr.isatty():
        from rich.progress import Progress

        progress = Progress(transient=True)
        task = progress.add_task("OCR", total=len(images))
        progress.start()

    async def one(image: str) -> None:
        async with limit:
            try:
                results[image] = await llm.aocr(image, mode, model=model)
            except LLMCfgError as error:
                results[image] = error
            if progress is not None:
                progress.advance(task)

    try:
        await asyncio.gather(*(one(image) for image in images))
    finally:
        if progress is not None:
            progress.stop()
    total, failures = 0.0, 0
    taken: set[Path] = set()
    for image in images:
        result = results[image]
        if isinstance(result, LLMCfgError):
            failures += 1
            print(f"error: {image}: {result}", file=sys.stderr)
            continue
        total += result.cost_usd or 0.0
        if out is None:
            print(f"==> {image} <==\n{result.text}" if len(images) > 1 else result.text)
        else:
            path = _output_path(out, image, result.mode, taken)
            os.makedirs(path.parent, exist_ok=True)
            path.write_text(result.text + "\n", encoding="utf-8")
            print(path)
    done = len(images) - failures
    print(f"[{done}/{len(images)} images · total ${total:.6f}]", file=sys.stderr)
    return 0 if failures == 0 else 2
