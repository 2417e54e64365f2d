"""Images inside chat messages go through llmcfg's own intake, never LiteLLM's or the provider's
downloader.

An ``image_url`` part of ``chat(messages=...)`` (and of achat, stream, astream, extract) used to go
to LiteLLM as it was: for Anthropic and Gemini LiteLLM downloads the URL itself, with an SSRF check
weaker than llmcfg's (``is_global``-based: fec0::1, 2002:7f00:1::1, 64:ff9b::7f00:1 pass it), and
for OpenAI the provider's servers fetch it, under none of the ``fetch`` policy. So a part gets what
``vision()`` gets, as one step of the call's ``prepare`` (effects, so sync and async share it):

- ``http(s)://``: the fetch policy (scheme, whitelist, every resolved address, size, deadline), the
  image cache, decode checks and normalisation for the model; sent as a ``data:`` URL;
- ``data:``: decoded and checked (size cap, magic number, pixel limit, truncation), sent unchanged;
- anything else (``file:``, ``ftp:``, a path, bare base64): refused by the fetcher, as
  ``vision("ftp://...")`` is. A string here is never read from disk.

Any other part (``file``, ``video_url``, a provider's own image block...) that names a URL other
than ``data:`` is refused outright: LiteLLM fetches some of those too, and llmcfg fetches images only.

A fetch refusal is an ImageFetchError subclass with one ``image.fetch_refused`` event; the image's
tokens count toward the call's budget estimate as vision's do.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from llmcfg.calls.core import require_vision
from llmcfg.calls.pipeline import Either, Offload, Steps
from llmcfg.exceptions import ForbiddenHostError, ImageError, ImageTooLargeError, NotAnImageError
from llmcfg.images.decode import decode
from llmcfg.images.fetch_steps import shown_url
from llmcfg.images.intake import afetch_cached, fetch_cached
from llmcfg.images.normalise import normalise
from llmcfg.images.tokens import Detail, estimate_image_tokens, optimal_detail

if TYPE_CHECKING:
    from llmcfg.calls.core import CallCore, Message
    from llmcfg.config.aliases import AliasInfo
    from llmcfg.images.fetch import ImageFetcher

__all__ = ["CheckedMessages", "message_image_steps"]

_DETAILS = ("auto", "low", "high")


@dataclass(frozen=True)
class CheckedMessages:
    """The messages as they may be sent, and the tokens their images add to the estimate."""

    messages: list[Message]
    image_tokens: int


@dataclass(frozen=True)
class _Part:
    message: int
    index: int
    part: dict[str, Any]  # as given: its other keys (cache_control, ...) are kept
    url: str
    detail: Detail

    @property
    def where(self) -> str:
        return f"messages[{self.message}].content[{self.index}]"

    def sent_as(self, data_url: str, detail: str) -> dict[str, Any]:
        """The part with the fetched image: its own keys (``cache_control``...) kept, the image_url
        only ``url`` and ``detail`` (a ``format`` given for the remote file would now be wrong)."""
        return {**self.part, "image_url": {"url": data_url, "detail": detail}}


def _image_part(part: dict[str, Any], message: int, index: int) -> _Part:
    where = f"messages[{message}].content[{index}]"
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    detail = (value.get("detail") if isinstance(value, dict) else None) or "auto"
    if not isinstance(url, str):
        raise ImageError(
            f"{where} is an image_url part without a URL: give image_url as {{'url': '...'}} or a string"
        )
    if detail not in _DETAILS:
        raise ImageError(f"{where}: image_url.detail is {detail!r}; use auto, low or high")
    return _Part(message, index, part, url, cast("Detail", detail))


_URL = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://")
_TEXT_PARTS = ("text", "thinking", "redacted_thinking")  # words, never fetched


def _linked(value: Any) -> str | None:
    """The first string inside ``value`` that is a URL other than ``data:`` (a file part's
    ``file_id``/``file_data``, a video's URL, an Anthropic-style ``source.url``...)."""
    if isinstance(value, str):
        return value if _URL.match(value) else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((found for item in items if (found := _linked(item)) is not None), None)


def _parts(messages: list[Message], fetcher: ImageFetcher) -> list[_Part]:
    """Every image part; any other part that names a URL is refused (LiteLLM or the provider would
    download it: a file, video or document part is never fetched by llmcfg)."""
    found = []
    for m, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for p, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image_url":
                found.append(_image_part(part, m, p))
            elif isinstance(part, dict) and part.get("type") not in _TEXT_PARTS and (url := _linked(part)):
                refusal = ForbiddenHostError(
                    f"messages[{m}].content[{p}] ({part.get('type')!r} part) names a URL ({shown_url(url)}); "
                    "llmcfg lets neither LiteLLM nor the provider download anything: send the content "
                    "inline as a data: URL (or use an image_url part, which llmcfg fetches)"
                )
                raise fetcher.refused(url, refusal)
    return found


def _is_data(url: str) -> bool:
    return url[:5].lower() == "data:"


def _data_image(url: str, where: str, max_bytes: int, max_pixels: int, model: str, detail: Detail) -> int:
    """Check a ``data:`` image (base64, at most ``max_bytes``, a whole image within ``max_pixels``);
    its tokens at the dearest detail the provider may pick."""
    header, _, payload = url.partition(",")
    if ";base64" not in header.lower():
        raise NotAnImageError(f"{where}: data: URLs must be base64-encoded images")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImageError(f"{where}: the data: URL is not valid base64") from None
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"{where}: the data: image is {len(data):,} bytes; the limit is {max_bytes:,} bytes (fetch.max_size_mb)"
        )
    image = decode(data, max_pixels=max_pixels)  # magic number, pixel limit, truncation
    chosen: Detail = "high" if detail == "auto" else detail
    return estimate_image_tokens(image.width, image.height, detail=chosen, model=model)


def _fetched_image(data: bytes, max_pixels: int, model: str, detail: Detail) -> tuple[str, str, int]:
    """A fetched image as ``vision`` sends it: (data URL, detail, tokens)."""
    probe = decode(data, max_pixels=max_pixels, verify=False)
    chosen: Detail = optimal_detail(probe.width, probe.height) if detail == "auto" else detail
    image = normalise(data, model=model, detail=chosen, max_pixels=max_pixels)
    tokens = estimate_image_tokens(image.width, image.height, detail=chosen, model=model)
    return image.data_url, chosen, tokens


def message_image_steps(core: CallCore, info: AliasInfo, messages: list[Message]) -> Steps[CheckedMessages]:
    """``messages`` with every image part through the intake (see the module docstring), images
    normalised and counted for the alias ``info`` (which must accept images)."""
    parts = _parts(messages, core.fetcher)
    if not parts:
        return CheckedMessages(messages, 0)
    require_vision(info)
    model = info.litellm_model
    fetcher, caches = core.fetcher, core.caches if core.config.cache.enabled else None
    max_pixels = core.config.fetch.max_pixels
    checked = [dict(m) if isinstance(m, dict) else m for m in messages]
    for m in {part.message for part in parts}:
        checked[m]["content"] = list(checked[m]["content"])
    tokens = 0
    for part in parts:
        if _is_data(part.url):
            tokens += yield Offload(
                _data_image, part.url, part.where, fetcher.max_bytes, max_pixels, model, part.detail
            )
            continue
        data = yield Either(
            partial(fetch_cached, part.url, fetcher, caches),
            partial(afetch_cached, part.url, fetcher, caches),
        )
        data_url, detail, image_tokens = yield Offload(_fetched_image, data, max_pixels, model, part.detail)
        tokens += image_tokens
        checked[part.message]["content"][part.index] = part.sent_as(data_url, detail)
    return CheckedMessages(checked, tokens)
