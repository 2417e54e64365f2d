"""Real image bytes made with Pillow, for tests."""

from __future__ import annotations

import io

from PIL import Image


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(
    width: int = 64,
    height: int = 48,
    colour: tuple[int, int, int] = (30, 200, 30),
    exif_orientation: int | None = None,
) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), colour)
    if exif_orientation is None:
        image.save(buffer, format="JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
