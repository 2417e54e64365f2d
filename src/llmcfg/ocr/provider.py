"""The offline OCR engine as a LiteLLM custom provider (``rapidocr/...``), so an alias on it is an
ordinary Router deployment: a preset, a fallback, retried, cached, budgeted and logged like any.

It reads OCR requests only — llmcfg marks them in the call's metadata (``llmcfg_ocr``: the mode, and
the page boxes of gundam tiles). A general vision question gets a clear refusal, not a pretence.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm.exceptions import BadRequestError
from litellm.llms.custom_llm import CustomLLM
from PIL import Image

from llmcfg.ocr.engine import EXTRA_HINT, OCR_METADATA_KEY, available, engine, page_text
from llmcfg.ocr.tiling import read_page

__all__ = ["PROVIDER", "RapidOCRProvider"]

PROVIDER = "rapidocr"


def _images(messages: list[dict[str, Any]]) -> list[bytes]:
    found = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = part["image_url"]["url"] if isinstance(part["image_url"], dict) else part["image_url"]
                if not str(url).startswith("data:"):
                    raise BadRequestError(
                        "the offline OCR engine reads inline images only", "ppocr", PROVIDER
                    )
                found.append(base64.b64decode(str(url).split(",", 1)[1]))
    return found


def read_request(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """The text of an OCR request: the overview image, or (gundam) its tiles merged into a page."""
    images = _images(messages)
    if not images:
        raise BadRequestError("an OCR request needs an image", "ppocr", PROVIDER)
    ocr = engine()
    tiles = request.get("tiles") or []
    paragraphs = bool(request.get("paragraphs"))
    if tiles:  # gundam: the overview, and the tiles for what is too small in it
        width, height = request["page"]
        boxes = [(box[0], box[1], box[2], box[3]) for box in tiles]
        lines = read_page(images[0], list(zip(boxes, images[1:], strict=True)), width, height)
        return page_text(lines, width, paragraphs=paragraphs)
    width = Image.open(io.BytesIO(images[0])).width
    return page_text(ocr.read(images[0]), width, paragraphs=paragraphs)


class RapidOCRProvider(CustomLLM):
    """LiteLLM calls these; each returns a ModelResponse made here (cost 0: it runs locally)."""

    def _answer(
        self, model: str, messages: list[dict[str, Any]], litellm_params: Any, model_response: Any
    ) -> Any:
        if not available():
            raise BadRequestError(EXTRA_HINT, model, PROVIDER)
        metadata = (litellm_params or {}).get("metadata") or {}
        request = metadata.get(OCR_METADATA_KEY)
        if not request:
            raise BadRequestError(
                "the offline OCR engine only reads the text of images (llmcfg ocr); ask a vision model instead",
                model,
                PROVIDER,
            )
        started = time.perf_counter()
        text = read_request(messages, request)
        model_response.choices[0].message.content = text
        model_response.choices[0].finish_reason = "stop"
        model_response.model = f"{PROVIDER}/{model}"
        model_response.usage = litellm.Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        model_response._hidden_params["ocr_seconds"] = time.perf_counter() - started
        return model_response

    def completion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        return self._answer(
            model, messages, kwargs.get("litellm_params"), kwargs.get("model_response") or args[3]
        )

    async def acompletion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(
            self.completion, model, messages, *args, **kwargs
        )  # CPU work off the loop

    def streaming(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        response = self.completion(model, messages, *args, **kwargs)
        yield _chunk(response.choices[0].message.content)

    async def astreaming(  # type: ignore[override]  # LiteLLM types it as a coroutine; it is iterated
        self, model: str, messages: list[Any], *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        response = await self.acompletion(model, messages, *args, **kwargs)
        yield _chunk(response.choices[0].message.content)


def _chunk(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "is_finished": True,
        "finish_reason": "stop",
        "index": 0,
        "tool_use": None,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
