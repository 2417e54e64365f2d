"""The image methods of ``LLM``: image generation, vision and OCR. Each builds its kind (a ``Job``:
how to get and key the image, build the request, estimate and read it) and runs the one call
protocol (``calls.pipeline``); fetching, decoding and resizing are effects, so the async methods
do them without blocking the event loop."""

from __future__ import annotations

import hashlib
from typing import Any

from llmcfg.cache.store import CacheStats
from llmcfg.calls.core import Call, CallCore, require_vision
from llmcfg.calls.image_kinds import ImageChatRequest, ImagineJob, OcrJob, VisionJob
from llmcfg.calls.pipeline import Either, adrive, call_steps, drive
from llmcfg.calls.usage import Usage
from llmcfg.config.positions import closest
from llmcfg.config.schema import OcrMode
from llmcfg.config.validation import fallback_chain
from llmcfg.exceptions import (
    CapabilityError,
    UnknownAliasError,
)
from llmcfg.images.decode import decode
from llmcfg.images.generation import ImageRequest, caps_for, check_request, image_cost
from llmcfg.images.intake import ImageInput, aimage_bytes, image_bytes
from llmcfg.images.models import IMAGE_PARAMS
from llmcfg.images.normalise import normalise, tiles
from llmcfg.images.tokens import Detail, estimate_image_tokens, optimal_detail
from llmcfg.ocr.engine import OCR_METADATA_KEY
from llmcfg.ocr.modes import DEFAULT_MODES, ocr_messages, vision_messages
from llmcfg.results import GeneratedImage, ImageResult, OCRResult, VisionResult

__all__ = ["ImageMethods"]


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


class ImageMethods(CallCore):
    # -- image generation -------------------------------------------------------------------------
    def imagine(
        self,
        prompt: str,
        *,
        quality: str | None = None,
        model: str | None = None,
        size: str | None = None,
        n: int | None = None,
        image_quality: str | None = None,
        style: str | None = None,
        hd: bool = False,
        cache: bool | None = None,
        **params: Any,
    ) -> ImageResult:
        """Generate images with the image preset of ``quality`` (or an alias). ``size``, ``n``,
        ``image_quality`` (standard/hd, low/medium/high), ``style`` and ``hd`` are checked against
        what the model accepts before anything is sent. Not cached unless ``cache.images_generated``
        or ``cache=True``: images are meant to vary."""
        options = {"size": size, "n": n, "quality": image_quality, "style": style, "hd": hd}
        options["response_format"] = params.pop("response_format", None)
        return drive(call_steps(self, ImagineJob(self, prompt, options, params, quality, model, cache)))

    async def aimagine(
        self,
        prompt: str,
        *,
        quality: str | None = None,
        model: str | None = None,
        size: str | None = None,
        n: int | None = None,
        image_quality: str | None = None,
        style: str | None = None,
        hd: bool = False,
        cache: bool | None = None,
        **params: Any,
    ) -> ImageResult:
        """``imagine``, awaited."""
        options = {"size": size, "n": n, "quality": image_quality, "style": style, "hd": hd}
        options["response_format"] = params.pop("response_format", None)
        return await adrive(
            call_steps(self, ImagineJob(self, prompt, options, params, quality, model, cache))
        )

    def _image_generation_request(
        self,
        call: Call,
        prompt: str,
        size: str | None,
        n: int | None,
        quality: str | None,
        style: str | None,
        hd: bool,
        response_format: str | None = None,
    ) -> tuple[ImageRequest, dict[str, Any]]:
        """The checked request (the alias's image ``params`` as defaults the call overrides), and
        the fallbacks that accept it too (others are left out)."""

        def checked(alias: str) -> ImageRequest:
            entry = self.config.models[alias]
            caps = caps_for(self._describe(alias), entry.image)
            defaults = {name: entry.params[name] for name in IMAGE_PARAMS if name in entry.params}
            return check_request(
                alias,
                caps,
                prompt=prompt,
                size=size,
                n=n,
                quality=quality,
                style=style,
                hd=hd,
                response_format=response_format,
                defaults=defaults,
            )

        request = checked(call.info.alias)
        chain = self._usable(fallback_chain(self.config, call.info.alias))
        if not chain:
            return request, {}
        fitting = []
        for alias in chain:
            try:
                if checked(alias).params() == request.params():
                    fitting.append(alias)
            except CapabilityError:
                continue
        if not fitting:
            return request, {"disable_fallbacks": True}
        return request, {"fallbacks": [{call.info.alias: fitting}]}

    def _fetching(self, result: ImageResult) -> ImageResult:
        """The result, able to download its URLs under this config's fetch policy."""
        result._fetch_settings = self.config.fetch.model_dump()
        return result

    def _read_image(self, call: Call, request: ImageRequest, response: Any) -> ImageResult:
        info, hidden = self._answerer(call, response)
        images = tuple(
            GeneratedImage(
                url=_field(item, "url"),
                b64_json=_field(item, "b64_json"),
                revised_prompt=_field(item, "revised_prompt"),
            )
            for item in response.data or []
        )
        reported = Usage.of(getattr(response, "usage", None)).reported_usd
        quality = request.quality or caps_for(info, self.config.models[info.alias].image).default_quality
        cost = image_cost(info, request.size, quality, len(images), reported, hidden.get("response_cost"))
        result = ImageResult(
            **self._outcome(call, info, hidden, cost), images=images, size=request.size, quality=quality
        )
        return self._fetching(result)

    # -- vision and OCR ---------------------------------------------------------------------------
    def vision(
        self,
        image: ImageInput,
        prompt: str,
        *,
        quality: str | None = None,
        model: str | None = None,
        detail: Detail = "auto",
        cache: bool | None = None,
        **params: Any,
    ) -> VisionResult:
        """Ask about one image (URL, path, bytes, base64, data: URL or PIL image)."""
        job = VisionJob(self, image, prompt, detail, params=params, quality=quality, model=model, cache=cache)
        return drive(call_steps(self, job))

    async def avision(
        self,
        image: ImageInput,
        prompt: str,
        *,
        quality: str | None = None,
        model: str | None = None,
        detail: Detail = "auto",
        cache: bool | None = None,
        **params: Any,
    ) -> VisionResult:
        """``vision``, awaited; fetching, decoding and resizing run off the event loop."""
        job = VisionJob(self, image, prompt, detail, params=params, quality=quality, model=model, cache=cache)
        return await adrive(call_steps(self, job))

    def ocr(
        self,
        image: ImageInput,
        mode: str | None = None,
        *,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> OCRResult:
        """Read the text of an image with an OCR mode (tiny, small, base, gundam, or your own)."""
        quality = quality or self.config.ocr.quality
        job = OcrJob(self, image, mode, params=params, quality=quality, model=model, cache=cache)
        return drive(call_steps(self, job))

    async def aocr(
        self,
        image: ImageInput,
        mode: str | None = None,
        *,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> OCRResult:
        """``ocr``, awaited; fetching, decoding, resizing and tiling run off the event loop."""
        quality = quality or self.config.ocr.quality
        job = OcrJob(self, image, mode, params=params, quality=quality, model=model, cache=cache)
        return await adrive(call_steps(self, job))

    def cache_stats(self) -> list[CacheStats]:
        """Entries, bytes, hits and misses of the image and response caches."""
        return self.caches.stats()

    def _image_effect(self, image: ImageInput) -> Either:
        """The bytes of ``image`` under the fetch policy: a URL through the safe fetcher (and the image
        cache), a file or bytes read locally (in a thread when async)."""
        fetcher, caches = self.fetcher, self.caches if self.config.cache.enabled else None
        return Either(
            lambda: image_bytes(image, fetcher, caches), lambda: aimage_bytes(image, fetcher, caches)
        )

    def _image_key(
        self, call: Call, cache: bool | None, data: bytes, recipe: list[Any], params: dict[str, Any]
    ) -> str | None:
        """Cache key of an image call. The raw bytes' digest plus the normalisation recipe (model,
        detail, mode) stands for the normalised image, so a hit skips decoding altogether."""
        require_vision(call.info)
        return self._cache_key(call, cache, True, [hashlib.sha256(data).hexdigest(), *recipe], params)

    def _with_ocr_fallbacks(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """OCR may fall back further than vision: ``ocr.fallback`` extends the alias's chain."""
        if not self.config.ocr.fallback or "fallbacks" in params:
            return params
        chain = self._usable(self._ocr_chain(call.info.alias))
        return {**params, "fallbacks": [{call.info.alias: chain}]} if chain else params

    def _ocr_mode(self, name: str | None) -> tuple[str, OcrMode]:
        modes = self.config.ocr.modes or DEFAULT_MODES
        chosen = name or self.config.ocr.default_mode
        if chosen not in modes:
            raise UnknownAliasError(
                f"unknown OCR mode {chosen!r}{closest(chosen, list(modes))}; modes: {', '.join(modes)}"
            )
        return chosen, modes[chosen]

    def _vision_request(
        self, call: Call, data: bytes, prompt: str, detail: Detail
    ) -> ImageChatRequest[VisionResult]:
        max_pixels = self.config.fetch.max_pixels
        model = call.info.litellm_model
        probe = decode(data, max_pixels=max_pixels, verify=False)
        chosen: Detail = optimal_detail(probe.width, probe.height) if detail == "auto" else detail
        image = normalise(data, model=model, detail=chosen, max_pixels=max_pixels)
        tokens = estimate_image_tokens(image.width, image.height, detail=chosen, model=model)
        extra = {"image_tokens": tokens, "image_width": image.width, "image_height": image.height}
        return ImageChatRequest(vision_messages(prompt, image, chosen), VisionResult, extra)

    def _ocr_request(self, call: Call, data: bytes, name: str, mode: OcrMode) -> ImageChatRequest[OCRResult]:
        max_pixels = self.config.fetch.max_pixels
        model = call.info.litellm_model
        overview = normalise(
            data,
            model=model,
            detail=mode.detail,
            max_side=mode.max_side,
            max_pixels=max_pixels,
            lossless=True,
        )
        parts = tiles(data, tile=mode.tile, max_pixels=max_pixels) if mode.tile else []
        tokens = sum(
            estimate_image_tokens(p.width, p.height, detail=mode.detail, model=model)
            for p in [overview, *parts]
        )
        extra = {"mode": name, "pages": 1, "tiles": len(parts), "image_tokens": tokens}
        engine_hints = {
            "mode": name,
            "paragraphs": mode.tile is not None or "markdown" in mode.prompt.lower(),
            "tiles": [list(part.box) for part in parts if part.box],
            "page": [overview.source_width, overview.source_height],
        }
        return ImageChatRequest(
            ocr_messages(mode, overview, parts), OCRResult, extra, {OCR_METADATA_KEY: engine_hints}
        )
