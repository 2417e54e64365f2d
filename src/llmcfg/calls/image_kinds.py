"""The image kinds of call (vision, OCR, image generation): what each supplies to the one call
protocol (``calls.pipeline``). The work itself (fetching, normalising, tiling, checking generation
parameters) lives in ``ImageMethods`` and ``images/``; a kind only says when it happens."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from llmcfg.calls.pipeline import Job, Offload, Steps
from llmcfg.money.budget.estimate import chat_estimate, image_estimate
from llmcfg.results import ChatResult, ImageResult, OCRResult, VisionResult

if TYPE_CHECKING:
    from llmcfg.calls.core import Call, Message
    from llmcfg.calls.vision import ImageMethods
    from llmcfg.config.aliases import AliasInfo
    from llmcfg.images.intake import ImageInput
    from llmcfg.images.tokens import Detail

__all__ = ["ImageChatRequest", "ImagineJob", "OcrJob", "VisionJob"]

_R = TypeVar("_R", VisionResult, OCRResult)


@dataclass(frozen=True)
class ImageChatRequest(Generic[_R]):
    """An image call ready to send: its messages, and what its result adds to ChatResult."""

    messages: list[Message]
    result_type: type[_R]
    extra: dict[str, Any]
    metadata: dict[str, Any] | None = None  # what the offline OCR engine needs to know (llmcfg_ocr)

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.metadata:
            return params
        return {**params, "metadata": {**(params.get("metadata") or {}), **self.metadata}}

    def result(self, answer: ChatResult) -> _R:
        return self.result_type(**answer.model_dump(), **self.extra)


class _ImageChatJob(Job[_R]):
    """Vision and OCR: get the image's bytes (fetched or read), key the cache on their digest plus
    the recipe, then decode and resize it (off the event loop when async) into chat messages."""

    preset_override: str | None = None

    def __init__(
        self,
        core: ImageMethods,
        image: ImageInput,
        params: dict[str, Any],
        quality: str | None,
        model: str | None,
        cache: bool | None,
    ) -> None:
        super().__init__(quality, model, cache)
        self.core, self.image, self.params = core, image, params
        self.data = b""
        self.request: ImageChatRequest[_R] | None = None

    def recipe(self, call: Call) -> list[Any]:
        raise NotImplementedError

    def prepare(self, call: Call) -> Steps[str | None]:
        self.data = yield self.core._image_effect(self.image)
        return self.core._image_key(call, self.cache, self.data, self.recipe(call), self.params)

    def make_request(self, call: Call) -> ImageChatRequest[_R]:
        raise NotImplementedError

    def build(self, call: Call) -> Steps[dict[str, Any]]:
        self.request = request = yield Offload(self.make_request, call)
        return {**request.params(self.params), "messages": request.messages}

    def estimate(self, info: AliasInfo) -> float:
        assert self.request is not None
        request = self.request
        return chat_estimate(
            info, request.messages, request.params(self.params), request.extra["image_tokens"]
        )

    def read(self, call: Call, response: Any) -> _R:
        assert self.request is not None
        return self.request.result(self.core._read_chat(call, response))


class VisionJob(_ImageChatJob[VisionResult]):
    kind, preset, result_type = "vision", "vision", VisionResult

    def __init__(self, core: ImageMethods, image: ImageInput, prompt: str, detail: Detail, **kw: Any) -> None:
        super().__init__(core, image, **kw)
        self.prompt, self.detail = prompt, detail

    def recipe(self, call: Call) -> list[Any]:
        return ["vision", self.prompt, self.detail]

    def make_request(self, call: Call) -> ImageChatRequest[VisionResult]:
        return self.core._vision_request(call, self.data, self.prompt, self.detail)


class OcrJob(_ImageChatJob[OCRResult]):
    kind, preset, result_type = "ocr", "ocr", OCRResult

    def __init__(self, core: ImageMethods, image: ImageInput, mode: str | None, **kw: Any) -> None:
        super().__init__(core, image, **kw)
        self.mode = mode

    def recipe(self, call: Call) -> list[Any]:
        self.mode_name, self.ocr_mode = self.core._ocr_mode(self.mode)
        self.params = self.core._with_ocr_fallbacks(call, self.params)
        return ["ocr", self.mode_name, self.ocr_mode.model_dump()]

    def make_request(self, call: Call) -> ImageChatRequest[OCRResult]:
        return self.core._ocr_request(call, self.data, self.mode_name, self.ocr_mode)


class ImagineJob(Job[ImageResult]):
    """Image generation: the request checked against what the model (and each fallback) accepts."""

    kind, preset, method, result_type = "image", "image", "image_generation", ImageResult

    def __init__(
        self,
        core: ImageMethods,
        prompt: str,
        options: dict[str, Any],
        params: dict[str, Any],
        quality: str | None,
        model: str | None,
        cache: bool | None,
    ) -> None:
        super().__init__(quality, model, cache)
        self.core, self.prompt, self.options, self.params = core, prompt, options, params

    def prepare(self, call: Call) -> Steps[str | None]:
        yield from ()
        core = self.core
        self.request, self.routing = core._image_generation_request(call, self.prompt, **self.options)
        default = core.config.cache.images_generated
        return core._cache_key(call, self.cache, default, asdict(self.request), self.params)

    def hit(self, result: ImageResult) -> ImageResult:
        return self.core._fetching(result)

    def build(self, call: Call) -> Steps[dict[str, Any]]:
        yield from ()
        return {**self.params, **self.request.params(), **self.routing, "prompt": self.prompt}

    def estimate(self, info: AliasInfo) -> float:
        return image_estimate(info, self.request.size, self.request.quality, self.request.n)

    def read(self, call: Call, response: Any) -> ImageResult:
        return self.core._read_image(call, self.request, response)

    def event_extra(self, result: ImageResult) -> dict[str, Any]:
        return {"images": len(result.images), "size": result.size, "quality": result.quality}
