"""Typed, frozen results of calls. Every result carries what it cost and who answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

M = TypeVar("M")  # a pydantic model instance, or a dict for a JSON Schema

__all__ = [
    "CallResult",
    "ChatResult",
    "EmbedResult",
    "ExtractResult",
    "OCRResult",
    "ToolCall",
    "VisionResult",
]


class ToolCall(BaseModel):
    """A function the model asked to call; ``arguments`` is None when they were not valid JSON."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str


class CallResult(BaseModel):
    """What every call reports: who answered, tokens, cost and timing."""

    model_config = ConfigDict(frozen=True)

    model: str  # the LiteLLM model string that answered
    alias: str  # the alias that answered
    requested: str  # what was asked: an alias, or "<kind>/<quality>"
    fallbacks_tried: tuple[str, ...] = ()  # aliases that failed before the one that answered
    skipped: dict[str, str] = {}  # aliases passed over before sending, and why ("OPENAI_API_KEY not set")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None  # None when no price is known (see cost_source)
    cost_source: str = "unknown"  # provider | override | table | unknown
    cached: bool = False
    saved_usd: float = 0.0  # on a cache hit: what the call cost when it was made
    latency_ms: float = 0.0
    request_id: str = ""
    downgraded_from: str | None = None  # the alias a budget moved this call away from


class ChatResult(CallResult):
    """The answer to ``chat``: the text plus model, tokens, cost and timing."""

    text: str
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    cached_tokens: int = 0  # input tokens read from the provider's prompt cache (priced at its rate)
    cache_write_tokens: int = 0  # input tokens written to the provider's prompt cache (priced at its rate)
    reasoning_tokens: int = 0  # output tokens spent reasoning, when the provider reports them

    def __str__(self) -> str:
        return self.text


class VisionResult(ChatResult):
    """The answer to ``vision``; ``image_tokens`` is llmcfg's estimate made before the call."""

    image_tokens: int = 0
    image_width: int = 0
    image_height: int = 0


class OCRResult(ChatResult):
    """The text read from an image by ``ocr``."""

    mode: str = "base"
    pages: int = 1
    tiles: int = 0
    image_tokens: int = 0


class EmbedResult(CallResult):
    """Vectors for ``embed``'s texts, in order."""

    vectors: list[list[float]]


class ExtractResult(CallResult, Generic[M]):
    """A validated ``value`` from ``extract_result``; cost and tokens add up every attempt."""

    value: M
    attempts: int = 1
    raw_text: str = ""


class GeneratedImage(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageResult(CallResult):
    """Images from ``imagine``. ``save(dir)`` writes them as files named by content hash."""

    images: tuple[GeneratedImage, ...]
    size: str | None = None
    quality: str | None = None
    _fetch_settings: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def first_url(self) -> str | None:
        return next((image.url for image in self.images if image.url), None)

    @property
    def count(self) -> int:
        return len(self.images)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Decode base64 images or download URLs (through the safe fetcher, allowing only each
        URL's own host); never overwrites a different file or writes through a link unless
        ``overwrite``. Returns the paths written."""
        from llmcfg.images.fetch import ImageFetcher
        from llmcfg.images.generation import save_images

        settings = self._fetch_settings

        def fetcher_for(host: str) -> ImageFetcher:
            return ImageFetcher(**{**settings, "allowed_domains": [host]})

        images = [(image.url, image.b64_json) for image in self.images]
        return save_images(images, folder, fetcher_for, overwrite=overwrite)
