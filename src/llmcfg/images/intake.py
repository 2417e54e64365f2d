"""Whatever the caller passed as an image, as bytes: URL, path, bytes, base64, data: URL, PIL image.

URLs go through llmcfg's own fetcher (never LiteLLM's or the provider's), with the image cache.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcfg.exceptions import ImageError, NotAnImageError
from llmcfg.images.decode import sniff

if TYPE_CHECKING:
    from llmcfg.cache.store import Caches
    from llmcfg.images.fetch import ImageFetcher

__all__ = ["ImageInput", "is_url", "local_bytes"]

ImageInput = Any  # str | Path | bytes | PIL.Image.Image; Any keeps Pillow out of the signature


def is_url(image: object) -> bool:
    return isinstance(image, str) and image[:8].lower().startswith(("http://", "https://"))


def _from_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImageError("base64 image data is not valid base64") from None


def local_bytes(image: ImageInput) -> bytes:
    """Bytes of every input kind except URLs."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, Path):
        return _read(image)
    if isinstance(image, str):
        if image.startswith("data:"):
            header, _, payload = image.partition(",")
            if ";base64" not in header:
                raise NotAnImageError("data: URLs must be base64-encoded images")
            return _from_base64(payload)
        if len(image) < 4096 and os.path.exists(image):
            return _read(Path(image))
        try:
            data = _from_base64("".join(image.split()))
        except NotAnImageError:
            data = b""
        if sniff(data[:16]) is not None:
            return data
        if len(image) < 4096 and (os.path.sep in image or "." in image[-6:]):
            raise ImageError(f"image file not found: {image}")
        raise NotAnImageError(
            "the string is neither a URL, an existing file, a data: URL nor base64 image data"
        )
    if hasattr(image, "save") and hasattr(image, "size"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise ImageError(f"unsupported image input of type {type(image).__name__}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as error:
        raise ImageError(f"cannot read image file {path}: {error.strerror}") from None


def fetch_cached(url: str, fetcher: ImageFetcher, caches: Caches | None) -> bytes:
    cached = caches.get_image(url) if caches is not None else None
    if cached is not None:
        return cached
    data = fetcher.fetch(url).data
    if caches is not None:
        caches.put_image(url, data)
    return data


async def afetch_cached(url: str, fetcher: ImageFetcher, caches: Caches | None) -> bytes:
    cached = caches.get_image(url) if caches is not None else None
    if cached is not None:
        return cached
    data = (await fetcher.afetch(url)).data
    if caches is not None:
        caches.put_image(url, data)
    return data
