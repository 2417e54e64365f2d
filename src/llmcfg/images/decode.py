"""Decide what the bytes are from the bytes, and open them only if it is safe to.

Formats are sniffed from magic numbers (never from a header or file name); the pixel count is
checked from the image header before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from llmcfg.exceptions import ImageTooLargeError, NotAnImageError

__all__ = ["SUPPORTED", "DecodedImage", "decode", "sniff"]

SUPPORTED = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
DEFAULT_MAX_PIXELS = 50_000_000


def sniff(data: bytes) -> str | None:
    """'jpeg', 'png', 'webp', 'gif' or None, from the first bytes."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # header read; pixels decoded lazily (so JPEG draft mode can still apply)
    format: str
    width: int
    height: int

    @property
    def mime(self) -> str:
        return SUPPORTED[self.format]


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, verify: bool = True) -> DecodedImage:
    """Open ``data`` as a supported image; refuse other formats, bombs and truncated files.

    ``verify`` decodes the whole file once to catch truncation; callers that decode it anyway
    (normalisation) pass False and get the same errors from ``load``.
    """
    kind = sniff(data)
    if kind is None:
        raise NotAnImageError("not a supported image (JPEG, PNG, WEBP or GIF, judged from its bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind.upper()])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise NotAnImageError(f"unreadable {kind.upper()} image: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if verify:
        check_complete(image, kind)
        image = Image.open(io.BytesIO(data), formats=[kind.upper()])
    return DecodedImage(image, kind, width, height)


def check_complete(image: Image.Image, kind: str) -> None:
    """Decode the (first frame's) pixels, turning truncation into NotAnImageError."""
    try:
        image.seek(0)
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise NotAnImageError(f"truncated or corrupt {kind.upper()} image: {error}") from None
