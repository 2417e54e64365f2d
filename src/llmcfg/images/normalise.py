"""Make an image what the model can use and no more: upright, never upscaled, downscaled to the
model family's useful size (or the OCR mode's), re-encoded compactly, or cut into tiles.

Large JPEGs are decoded in draft mode at the smallest DCT scale (1/2, 1/4, 1/8) that still covers
the target, or lands within ``DRAFT_TOLERANCE`` under it: a 4000x3000 photo for gpt-4o's 1024x768
is decoded at 1/4 scale (1000x750) and sent as that, not decoded at 1/2 (2000x1500) and resized. Up
to 5% fewer pixels per side is invisible to a vision model and never costs more tokens (1000x750 and
1024x768 are the same 2x2 tiles, 765 tokens), and decoding a quarter or a sixteenth of the pixels is
what makes it fast.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from llmcfg.images.decode import DEFAULT_MAX_PIXELS, check_complete, decode
from llmcfg.images.tokens import Detail, fit_within, target_size

__all__ = ["PreparedImage", "normalise", "tiles"]

_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF rotations by 90°: width and height trade places
_JPEG_QUALITY = 85
DRAFT_TOLERANCE = 0.05


@dataclass(frozen=True)
class PreparedImage:
    """Bytes ready to send, with their geometry."""

    data: bytes
    mime: str
    width: int
    height: int
    source_width: int
    source_height: int
    box: tuple[int, int, int, int] | None = None  # for a tile: left, top, right, bottom in the page

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


def _encode(image: Image.Image, lossless: bool) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if lossless or image.mode in ("RGBA", "LA", "P", "PA"):
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(buffer, format="PNG", compress_level=6)
        return buffer.getvalue(), "image/png"
    image.convert("RGB").save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue(), "image/jpeg"


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is no reason to refuse the picture
        return 1


def normalise(
    data: bytes,
    *,
    model: str = "gpt-4o",
    detail: Detail = "high",
    max_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    lossless: bool | None = None,
) -> PreparedImage:
    """``data`` upright and no larger than ``model`` (and ``max_side``) can use.

    ``lossless`` None keeps PNG/GIF sources lossless (text, diagrams) and sends photos as JPEG.
    """
    decoded = decode(data, max_pixels=max_pixels, verify=False)
    image, kind = decoded.image, decoded.format
    orientation = _orientation(image) if kind in ("jpeg", "webp", "png") else 1
    swapped = orientation in _SWAPPING_ORIENTATIONS
    width, height = (decoded.height, decoded.width) if swapped else (decoded.width, decoded.height)
    target_w, target_h = target_size(width, height, model=model, detail=detail)
    if max_side is not None:
        target_w, target_h = fit_within(target_w, target_h, max_side, max_side)
    keep_lossless = kind in ("png", "gif") if lossless is None else lossless
    unchanged = (target_w, target_h) == (width, height) and orientation == 1
    if kind == "jpeg" and not unchanged:
        # Pillow picks the smallest scale whose size is at least the one asked for: ask for the
        # target less the tolerance, and a scale just under the target is taken too.
        draft_w, draft_h = (math.ceil(side * (1 - DRAFT_TOLERANCE)) for side in (target_w, target_h))
        image.draft("RGB", (draft_h, draft_w) if swapped else (draft_w, draft_h))
    check_complete(image, kind)
    drafted_w, drafted_h = (image.height, image.width) if swapped else image.size
    if drafted_w < target_w:  # the draft scale landed just under the target: keep it, never upscale
        target_w, target_h = drafted_w, drafted_h
    if unchanged and kind in ("jpeg", "png", "webp") and (kind == "png") == keep_lossless:
        return PreparedImage(data, decoded.mime, width, height, width, height)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    if image.size != (target_w, target_h):
        image = image.resize((target_w, target_h), Image.Resampling.LANCZOS, reducing_gap=2.0)
    encoded, mime = _encode(image, keep_lossless)
    return PreparedImage(encoded, mime, target_w, target_h, width, height)


def tiles(
    data: bytes, *, tile: int, overlap: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[PreparedImage]:
    """Overlapping ``tile``-px squares of the full-resolution image, in reading order (rows top to
    bottom, each left to right). Each tile is encoded losslessly: it exists for small print."""
    decoded = decode(data, max_pixels=max_pixels, verify=False)
    check_complete(decoded.image, decoded.format)
    image = ImageOps.exif_transpose(decoded.image)
    width, height = image.size
    overlap = tile // 8 if overlap is None else overlap
    step = max(1, tile - overlap)

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        positions = list(range(0, length - tile, step))
        return [*positions, length - tile]

    parts = []
    for top in starts(height):
        for left in starts(width):
            box = (left, top, min(left + tile, width), min(top + tile, height))
            encoded, mime = _encode(image.crop(box), True)
            parts.append(PreparedImage(encoded, mime, box[2] - box[0], box[3] - box[1], width, height, box))
    return parts
