"""Whatever the caller passed as an image, as bytes: URL, path, bytes, base64, data: URL, PIL image.

URLs go through llmcfg's own fetcher (never LiteLLM's or the provider's), with the image cache; a
cached image is served only after the URL passed the CURRENT policy (a stricter config sharing the
cache folder must not get what it would refuse). Anything spelt like a URL (``scheme://``) goes to
the fetcher, which refuses schemes other than http(s) for what they are, instead of looking for a
file of that name. With ``fetch.local_files: false`` a string is never opened as a file: an app that
passes user-supplied strings cannot be made to send its own disk to a provider.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcfg.exceptions import ForbiddenHostError, ImageError, NotAnImageError
from llmcfg.images.decode import sniff

if TYPE_CHECKING:
    from llmcfg.cache.backends import AnyCaches as Caches
    from llmcfg.images.fetch import ImageFetcher

__all__ = ["ImageInput", "aimage_bytes", "image_bytes", "is_url", "local_bytes"]

ImageInput = Any  # str | Path | bytes | PIL.Image.Image; Any keeps Pillow out of the signature


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(image: object) -> bool:
    """Spelt like a URL (``scheme://``), whatever the scheme: the fetcher decides what it accepts."""
    return isinstance(image, str) and _SCHEME.match(image) is not None


def _from_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImageError("base64 image data is not valid base64") from None


def local_bytes(image: ImageInput, *, local_files: bool = True) -> bytes:
    """Bytes of every input kind except URLs. ``local_files`` False: a string is never a path."""
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
        if local_files and len(image) < 4096 and os.path.exists(image):
            return _read(Path(image))
        try:
            data = _from_base64("".join(image.split()))
        except NotAnImageError:
            data = b""
        if sniff(data[:16]) is not None:
            return data
        if not local_files:
            raise ForbiddenHostError(
                "this string is not a URL, a data: URL or base64 image data, and strings are never read "
                "as files here (fetch.local_files: false); pass a pathlib.Path to send a local file"
            )
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
    if caches is not None:
        fetcher.check(url)  # the current policy first: the cache may hold what another config fetched
        cached = caches.get_image(url)
        if cached is not None:
            return cached
    data = fetcher.fetch(url).data
    if caches is not None:
        caches.put_image(url, data)
    return data


async def afetch_cached(url: str, fetcher: ImageFetcher, caches: Caches | None) -> bytes:
    if caches is not None:
        await fetcher.acheck(url)
        cached = caches.get_image(url)
        if cached is not None:
            return cached
    data = (await fetcher.afetch(url)).data
    if caches is not None:
        caches.put_image(url, data)
    return data


def image_bytes(image: ImageInput, fetcher: ImageFetcher, caches: Caches | None) -> bytes:
    """The bytes of any image input, under ``fetcher``'s policy (URLs and ``local_files``)."""
    if is_url(image):
        return fetch_cached(str(image), fetcher, caches)
    return local_bytes(image, local_files=fetcher.local_files)


async def aimage_bytes(image: ImageInput, fetcher: ImageFetcher, caches: Caches | None) -> bytes:
    """``image_bytes``, awaited (files are read in a thread)."""
    if is_url(image):
        return await afetch_cached(str(image), fetcher, caches)
    return await asyncio.to_thread(local_bytes, image, local_files=fetcher.local_files)
