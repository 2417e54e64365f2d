"""Image generation: what each model accepts (as data, overridable per alias), checks made before
any request, the price of what came back, and saving results to files.

Prices (``llmcfg.money.cost.image_cost``), in order of trust: what the provider reported; the
alias's ``price.per_image``; the image tokens in the response's usage (gpt-image models); llmcfg's
list prices by size and quality (dall-e); LiteLLM's table; else unknown, never a silent $0.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmcfg.config.aliases import AliasInfo
from llmcfg.config.schema import ImageCapsConfig
from llmcfg.exceptions import CapabilityError, NotAnImageError
from llmcfg.images.decode import sniff
from llmcfg.images.models import IMAGE_MODELS, ImageCaps, image_model, with_override
from llmcfg.money.cost import image_cost  # re-exported: the price of what came back lives in money/

if TYPE_CHECKING:
    from llmcfg.images.fetch import ImageFetcher

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

__all__ = [
    "IMAGE_MODELS",
    "ImageCaps",
    "ImageRequest",
    "caps_for",
    "check_request",
    "image_cost",
    "save_images",
]


def caps_for(info: AliasInfo, override: ImageCapsConfig | None) -> ImageCaps:
    return with_override(image_model(info.litellm_model) or ImageCaps(), override)


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    size: str | None
    n: int
    quality: str | None
    style: str | None
    response_format: str | None = None

    def params(self) -> dict[str, Any]:
        """Keyword arguments for the Router. LiteLLM's OpenAI image config refuses ``style`` and
        ``response_format``; the API takes them, so they travel in ``extra_body``."""
        params: dict[str, Any] = {"n": self.n}
        if self.size:
            params["size"] = self.size
        if self.quality:
            params["quality"] = self.quality
        extra = {"style": self.style, "response_format": self.response_format}
        if any(extra.values()):
            params["extra_body"] = {name: value for name, value in extra.items() if value}
        return params


def _refuse(alias: str, what: str, value: object, accepted: tuple[str, ...] | str) -> CapabilityError:
    listed = ", ".join(accepted) if isinstance(accepted, tuple) else accepted
    return CapabilityError(f"alias {alias!r} does not accept {what} {value!r}; it accepts: {listed}")


def check_request(
    alias: str,
    caps: ImageCaps,
    *,
    prompt: str,
    size: str | None,
    n: int | None,
    quality: str | None,
    style: str | None,
    hd: bool,
    response_format: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ImageRequest:
    """The request made concrete for this model (the alias's ``params`` defaults, then the model's
    default size, filled in where the call said nothing; quality is left to the provider when
    neither says, so fallbacks with other quality names can still take it), or CapabilityError
    naming what the model accepts."""
    given = dict(defaults or {})
    size = size or given.get("size")
    quality = quality or (None if hd else given.get("quality"))
    style = style or given.get("style")
    response_format = response_format or given.get("response_format")
    n = n if n is not None else int(given.get("n") or 1)
    if response_format is not None and response_format not in ("url", "b64_json"):
        raise _refuse(alias, "response_format", response_format, ("url", "b64_json"))
    if not prompt.strip():
        raise CapabilityError("an image prompt cannot be empty")
    if hd:
        if caps.hd_quality is None:
            raise _refuse(alias, "quality", "hd", caps.qualities or "no quality setting")
        if quality is not None and quality != caps.hd_quality:
            raise CapabilityError(f"pass either hd=True or quality={quality!r}, not both")
        quality = caps.hd_quality
    size = size or (caps.sizes[0] if caps.sizes else None)
    if caps.sizes and size not in caps.sizes:
        raise _refuse(alias, "size", size, caps.sizes)
    if n < 1 or (caps.max_n is not None and n > caps.max_n):
        raise _refuse(alias, "n", n, f"1 to {caps.max_n}" if caps.max_n else "n >= 1")
    if quality is not None and caps.qualities and quality not in caps.qualities:
        raise _refuse(alias, "quality", quality, caps.qualities)
    if style is not None and (caps.sizes or caps.qualities) and style not in caps.styles:
        raise _refuse(alias, "style", style, caps.styles or "no style setting")
    return ImageRequest(prompt, size, n, quality, style, response_format)


def _same_file(path: Path, data: bytes) -> bool:
    """``path`` is a regular file (not a link) holding exactly ``data``; links are never read, and
    a planted named pipe is opened without blocking (a plain open waits forever for a writer)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return False
    with os.fdopen(descriptor, "rb") as existing:
        return stat.S_ISREG(os.fstat(existing.fileno()).st_mode) and existing.read(len(data) + 1) == data


def _place(temporary: str, folder: Path, stem: str, suffix: str, data: bytes, overwrite: bool) -> Path:
    """Give the written temporary file its final name in ``folder``, atomically and never over
    another file unless ``overwrite``: a hard link fails if the name exists (a planted link too)."""
    number = 1
    while True:
        path = folder / (f"{stem}{suffix}" if number == 1 else f"{stem}-{number}{suffix}")
        if overwrite:
            os.replace(temporary, path)  # replaces a link itself, never writes through it
            return path
        try:
            os.link(temporary, path, follow_symlinks=False)
            return path
        except FileExistsError:
            if _same_file(path, data):
                return path
        number += 1


def _save_one(folder: Path, data: bytes, overwrite: bool) -> Path:
    kind = sniff(data[:16])
    if kind is None:
        raise NotAnImageError("the generated image is not a PNG, JPEG, WEBP or GIF")
    suffix = ".jpg" if kind == "jpeg" else f".{kind}"
    # mkstemp: a new random name opened O_CREAT|O_EXCL|O_NOFOLLOW, so a planted .part link is never used
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".llmcfg-", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        return _place(temporary, folder, hashlib.sha256(data).hexdigest()[:16], suffix, data, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def save_images(
    images: list[tuple[str | None, str | None]],
    folder: str | Path,
    fetcher_for: Any,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write each (url, b64_json) image into ``folder``, named by content hash; returns the paths.
    URLs are downloaded through the safe fetcher, which allows just that URL's host. Files are
    written whole under a temporary name in the folder, then linked into place; an existing file
    of the same name with other bytes (or a link) is left alone and the next name taken, unless
    ``overwrite``."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for url, b64 in images:
        if b64:
            data = base64.b64decode(b64)
        elif url:
            fetcher: ImageFetcher = fetcher_for(urlsplit(url).hostname or "")
            data = fetcher.fetch(url).data
        else:
            continue
        paths.append(_save_one(target, data, overwrite))
    return paths
