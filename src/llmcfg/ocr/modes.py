"""OCR modes (a prompt plus a resolution) and the messages they send, tiles included for gundam."""

from __future__ import annotations

from typing import Any

from llmcfg.config.schema import OcrMode
from llmcfg.images.normalise import PreparedImage

__all__ = ["DEFAULT_MODES", "image_part", "ocr_messages", "vision_messages"]

_PLAIN = "Transcribe all text in this image exactly, in reading order. Keep line breaks. Output plain text only: no commentary, no code fences."
DEFAULT_MODES = {
    "tiny": OcrMode(
        max_side=512,
        detail="low",
        prompt="Read all text in the image. Output plain text only, no commentary.",
    ),
    "small": OcrMode(max_side=640, detail="high", prompt=_PLAIN),
    "base": OcrMode(max_side=1024, detail="high", prompt=_PLAIN),
    "gundam": OcrMode(
        max_side=1024,
        tile=640,
        detail="high",
        prompt=(
            "The first image is an overview of a page; the next images are overlapping tiles of it at full "
            "resolution, in reading order. Transcribe the whole page once, as Markdown (headings, lists, tables "
            "as Markdown tables). Text in the overlap of two tiles appears once. No commentary."
        ),
    ),
}


def image_part(image: PreparedImage, detail: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image.data_url, "detail": detail}}


def vision_messages(prompt: str, image: PreparedImage, detail: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": prompt}, image_part(image, detail)]}]


def ocr_messages(mode: OcrMode, overview: PreparedImage, tiles: list[PreparedImage]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": mode.prompt}]
    if tiles:
        content.append({"type": "text", "text": "Overview of the page:"})
    content.append(image_part(overview, mode.detail))
    for index, tile in enumerate(tiles, 1):
        content.append({"type": "text", "text": f"Tile {index} of {len(tiles)}:"})
        content.append(image_part(tile, mode.detail))
    return [{"role": "user", "content": content}]
