"""The facade: ``LLM.chat`` / ``achat``, which resolve an alias, call the Router and report the cost.

Sync and async share every step but the one that waits (``_Call`` before, ``_finish``/``_fail``
after), so there is one implementation of what a call means, not two.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from llmcfg.aliases import AliasInfo, describe
from llmcfg.cache import Caches, CacheStats, response_key
from llmcfg.config import closest, load_config
from llmcfg.cost import CallCost, token_cost
from llmcfg.counting import count_tokens
from llmcfg.events import CostLog, emit
from llmcfg.exceptions import (
    CapabilityError,
    LLMCfgError,
    ProviderError,
    StructuredOutputError,
    UnknownAliasError,
)
from llmcfg.images.decode import decode
from llmcfg.images.fetch import ImageFetcher
from llmcfg.images.intake import ImageInput, afetch_cached, fetch_cached, is_url, local_bytes
from llmcfg.images.normalise import normalise, tiles
from llmcfg.images.tokens import Detail, estimate_image_tokens, optimal_detail
from llmcfg.ocr_modes import DEFAULT_MODES, ocr_messages, vision_messages
from llmcfg.plan import PlanRow, plan_rows
from llmcfg.provider_errors import translate
from llmcfg.results import CallResult, ChatResult, EmbedResult, ExtractResult, OCRResult, VisionResult
from llmcfg.routing import REQUEST_ID_KEY, RouterRuntime, attempts
from llmcfg.schema import QUALITIES, Config, OcrMode
from llmcfg.streaming import AsyncChatStream, ChatStream, StreamState
from llmcfg.structured import feedback, response_format, schema_instruction, validate_answer
from llmcfg.usage import Usage, tool_calls
from llmcfg.validation import fallback_chain

__all__ = ["LLM"]

# What each kind of call needs the alias's model to be.
_MODES_FOR = {
    "chat": ("chat",),
    "vision": ("chat",),
    "ocr": ("chat", "ocr"),
    "embed": ("embedding",),
    "image": ("image_generation",),
}

Message = dict[str, Any]


@dataclass
class _Call:
    """One call in flight: what was asked, which alias serves it, when it started."""

    kind: str
    requested: str
    info: AliasInfo
    request_id: str
    started: float

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


_R = TypeVar("_R", VisionResult, OCRResult)
_C = TypeVar("_C", bound=CallResult)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class _ImageRequest(Generic[_R]):
    """An image call ready to send: its messages, and what its result adds to ChatResult."""

    messages: list[Message]
    result_type: type[_R]
    extra: dict[str, Any]

    def result(self, answer: ChatResult) -> _R:
        return self.result_type(**answer.model_dump(), **self.extra)


def _messages(prompt: str | None, messages: list[Message] | None, system: str | None) -> list[Message]:
    if (prompt is None) == (messages is None):
        raise TypeError("pass either a prompt or messages=[...], not both and not neither")
    built: list[Message] = list(messages) if messages is not None else [{"role": "user", "content": prompt}]
    if system is not None:
        built.insert(0, {"role": "system", "content": system})
    return built


def _extracted(schema: type[M], value: BaseModel, answers: list[ChatResult]) -> ExtractResult[M]:
    last = answers[-1]
    costs = [a.cost_usd for a in answers]
    return ExtractResult[schema](  # type: ignore[valid-type]
        value=value,
        attempts=len(answers),
        raw_text=last.text,
        model=last.model,
        alias=last.alias,
        requested=last.requested,
        fallbacks_tried=last.fallbacks_tried,
        tokens_in=sum(a.tokens_in for a in answers),
        tokens_out=sum(a.tokens_out for a in answers),
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        cost_source=last.cost_source,
        cached=all(a.cached for a in answers),
        saved_usd=sum(a.saved_usd for a in answers),
        latency_ms=sum(a.latency_ms for a in answers),
        request_id=last.request_id,
    )


def _extract_failed(answers: list[ChatResult], problems: str) -> StructuredOutputError:
    last = answers[-1]
    error = StructuredOutputError(
        f"alias {last.alias!r} ({last.model}) gave no valid answer in {len(answers)} attempts: {problems[:300]}",
        alias=last.alias,
        model=last.model,
        tried=(last.alias,),
    )
    error.raw_text = last.text
    return error


class LLM:
    """Every model of one config, behind ``chat`` and friends. Cheap to build; the Router comes on
    first use. Share one per process: it holds the connection pools."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._runtime = RouterRuntime(config)
        self._aliases: dict[str, AliasInfo] = {}
        self._caches: Caches | None = None
        self._fetcher: ImageFetcher | None = None
        cost_log = config.logging.cost_log
        self._cost_log = CostLog(config.resolve_path(cost_log)) if cost_log else None

    def _describe(self, alias: str) -> AliasInfo:
        info = self._aliases.get(alias)
        if info is None:
            info = self._aliases[alias] = describe(self.config, alias)
        return info

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> LLM:
        """Load and validate ``path`` (default: $LLMCFG_CONFIG, else ./llm_config.yaml)."""
        return cls(load_config(path))

    def __repr__(self) -> str:
        return f"LLM(config={self.config.source!r}, aliases={list(self.config.models)})"

    # -- choosing an alias ------------------------------------------------------------------------
    def resolve(self, kind: str, *, quality: str | None = None, model: str | None = None) -> tuple[str, str]:
        """(alias, what was requested) for an explicit alias or a kind's quality preset."""
        if model is not None:
            if model not in self.config.models:
                raise UnknownAliasError(f"unknown alias {model!r}{closest(model, list(self.config.models))}")
            return model, model
        quality = quality or "balanced"
        if quality not in QUALITIES:
            raise UnknownAliasError(
                f"unknown quality {quality!r}{closest(quality, QUALITIES)}; use fast, balanced or best"
            )
        presets = getattr(self.config.presets, kind, None)
        alias = getattr(presets, quality, None) if presets is not None else None
        if alias is None:
            raise UnknownAliasError(
                f"no preset presets.{kind}.{quality} in the config; add it or pass model="
            )
        return alias, f"{kind}/{quality}"

    def _start(self, kind: str, preset_kind: str, quality: str | None, model: str | None) -> _Call:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        try:
            alias, requested = self.resolve(preset_kind, quality=quality, model=model)
            info = self._describe(alias)
            if info.mode not in _MODES_FOR[kind]:
                raise CapabilityError(
                    f"alias {alias!r} ({info.litellm_model}) has mode {info.mode}; {kind} needs "
                    f"{' or '.join(_MODES_FOR[kind])} (set mode: on the alias if LiteLLM's table is wrong)"
                )
            self._runtime.ensure_available(alias)
        except LLMCfgError as error:
            self._event(
                kind,
                model or f"{preset_kind}/{quality or 'balanced'}",
                None,
                request_id,
                started,
                error=error,
            )
            raise
        self._runtime.router  # noqa: B018 - built (once) before the clock starts: latency is the call's
        return _Call(kind, requested, info, request_id, time.perf_counter())

    # -- chat -------------------------------------------------------------------------------------
    def chat(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> ChatResult:
        """Send a prompt (or ``messages``) to an alias or the text preset of ``quality``.

        Extra keyword arguments (temperature, max_tokens, tools, response_format, ...) go to LiteLLM.
        ``cache``: None follows ``cache.text`` in the config; True/False force it for this call.
        """
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        key = self._cache_key(call, cache, self.config.cache.text, body, params)
        hit = self._cached(call, key, ChatResult)
        return hit if hit is not None else self._remember(key, self._run(call, body, params))

    async def achat(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> ChatResult:
        """``chat``, awaited."""
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        key = self._cache_key(call, cache, self.config.cache.text, body, params)
        hit = self._cached(call, key, ChatResult)
        return hit if hit is not None else self._remember(key, await self._arun(call, body, params))

    # -- streams ----------------------------------------------------------------------------------
    def stream(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> ChatStream:
        """Iterate for text deltas (the request goes out on first iteration); ``.result`` after it.

        Usage is requested from the provider; one ``llm.call`` event is emitted when the stream
        ends or is abandoned. Streams are never cached.
        """
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        kwargs = self._params(call, {**params, "stream": True, "stream_options": {"include_usage": True}})
        return ChatStream(
            lambda: self._runtime.router.completion(model=call.info.alias, messages=body, **kwargs),
            lambda state, abandoned: self._finish_stream(call, body, state, abandoned),
            lambda error: self._fail(call, error),
        )

    def astream(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> AsyncChatStream:
        """``stream`` for ``async for``."""
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        kwargs = self._params(call, {**params, "stream": True, "stream_options": {"include_usage": True}})
        return AsyncChatStream(
            lambda: self._runtime.router.acompletion(model=call.info.alias, messages=body, **kwargs),
            lambda state, abandoned: self._finish_stream(call, body, state, abandoned),
            lambda error: self._fail(call, error),
        )

    # -- embeddings -------------------------------------------------------------------------------
    def embed(
        self,
        texts: str | list[str],
        *,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> EmbedResult:
        """Vectors for ``texts`` (cached by default: embeddings are deterministic)."""
        inputs = [texts] if isinstance(texts, str) else list(texts)
        call = self._start("embed", "embedding", quality, model)
        key = self._cache_key(call, cache, True, inputs, params)
        hit = self._cached(call, key, EmbedResult)
        if hit is not None:
            return hit
        try:
            response = self._runtime.router.embedding(
                model=call.info.alias, input=inputs, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._remember(key, self._finish_embed(call, response))

    async def aembed(
        self,
        texts: str | list[str],
        *,
        quality: str | None = None,
        model: str | None = None,
        cache: bool | None = None,
        **params: Any,
    ) -> EmbedResult:
        """``embed``, awaited."""
        inputs = [texts] if isinstance(texts, str) else list(texts)
        call = self._start("embed", "embedding", quality, model)
        key = self._cache_key(call, cache, True, inputs, params)
        hit = self._cached(call, key, EmbedResult)
        if hit is not None:
            return hit
        try:
            response = await self._runtime.router.aembedding(
                model=call.info.alias, input=inputs, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._remember(key, self._finish_embed(call, response))

    # -- structured output ------------------------------------------------------------------------
    def extract(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> M:
        """A validated instance of ``schema`` from the model's answer (see ``extract_result``)."""
        return self.extract_result(
            prompt_or_messages, schema, quality=quality, model=model, retries=retries, **params
        ).value

    def extract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[M]:
        """Ask for JSON matching ``schema`` (JSON-schema mode where the model has it, else JSON mode
        plus the schema in words); on a validation failure, ask again with the errors, up to
        ``retries`` times, then raise StructuredOutputError with the last raw text."""
        messages, fmt = self._extract_setup(prompt_or_messages, schema, quality, model)
        answers: list[ChatResult] = []
        for _ in range(retries + 1):
            answer = self.chat(messages=messages, quality=quality, model=model, response_format=fmt, **params)
            answers.append(answer)
            value, problems = validate_answer(schema, answer.text)
            if value is not None:
                return _extracted(schema, value, answers)
            messages = [*messages, *feedback(answer.text, problems)]
        raise _extract_failed(answers, problems)

    async def aextract(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> M:
        """``extract``, awaited."""
        result = await self.aextract_result(
            prompt_or_messages, schema, quality=quality, model=model, retries=retries, **params
        )
        return result.value

    async def aextract_result(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[M],
        *,
        quality: str | None = None,
        model: str | None = None,
        retries: int = 2,
        **params: Any,
    ) -> ExtractResult[M]:
        """``extract_result``, awaited."""
        messages, fmt = self._extract_setup(prompt_or_messages, schema, quality, model)
        answers: list[ChatResult] = []
        for _ in range(retries + 1):
            answer = await self.achat(
                messages=messages, quality=quality, model=model, response_format=fmt, **params
            )
            answers.append(answer)
            value, problems = validate_answer(schema, answer.text)
            if value is not None:
                return _extracted(schema, value, answers)
            messages = [*messages, *feedback(answer.text, problems)]
        raise _extract_failed(answers, problems)

    def _extract_setup(
        self,
        prompt_or_messages: str | list[Message],
        schema: type[BaseModel],
        quality: str | None,
        model: str | None,
    ) -> tuple[list[Message], dict[str, Any]]:
        alias, _ = self.resolve("text", quality=quality, model=model)
        strict = self._describe(alias).json_schema
        messages = (
            _messages(prompt_or_messages, None, None)
            if isinstance(prompt_or_messages, str)
            else list(prompt_or_messages)
        )
        if not strict:
            messages = [schema_instruction(schema), *messages]
        return messages, response_format(schema, strict)

    # -- knowing the models -----------------------------------------------------------------------
    def models(self) -> list[PlanRow]:
        """Every alias with its provider, mode, capabilities, context window, prices and fallbacks."""
        return plan_rows(self.config)

    def model_info(self, alias: str) -> PlanRow:
        for row in plan_rows(self.config):
            if row.alias == alias:
                return row
        raise UnknownAliasError(f"unknown alias {alias!r}{closest(alias, list(self.config.models))}")

    def count_tokens(
        self, text_or_messages: str | list[Message], *, quality: str | None = None, model: str | None = None
    ) -> int:
        """Tokens of a text or messages for an alias (or the text preset of ``quality``)."""
        alias, _ = self.resolve("text", quality=quality, model=model)
        return count_tokens(text_or_messages, model=self._describe(alias).litellm_model)

    def estimate_cost(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        quality: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> float | None:
        """Worst-case USD of a chat call: input tokens counted, output at ``max_tokens`` (or the
        model's maximum). None when the alias has no known price."""
        alias, _ = self.resolve("text", quality=quality, model=model)
        info = self._describe(alias)
        if info.input_per_token is None:
            return None
        tokens_in = count_tokens(_messages(prompt, messages, None), model=info.litellm_model)
        tokens_out = max_tokens if max_tokens is not None else (info.max_output_tokens or 0)
        return tokens_in * info.input_per_token + tokens_out * (info.output_per_token or 0.0)

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
        call = self._start("vision", "vision", quality, model)
        with self._failing(call):
            data = self._image_bytes(image)
            key = self._image_key(call, cache, data, ["vision", prompt, detail], params)
            hit = self._cached(call, key, VisionResult)
            if hit is not None:
                return hit
            request = self._vision_request(call, data, prompt, detail)
        return self._remember(key, request.result(self._run(call, request.messages, params)))

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
        """``vision``, awaited; decoding and resizing run off the event loop."""
        call = self._start("vision", "vision", quality, model)
        with self._failing(call):
            data = await self._aimage_bytes(image)
            key = self._image_key(call, cache, data, ["vision", prompt, detail], params)
            hit = self._cached(call, key, VisionResult)
            if hit is not None:
                return hit
            request = await asyncio.to_thread(self._vision_request, call, data, prompt, detail)
        return self._remember(key, request.result(await self._arun(call, request.messages, params)))

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
        call = self._start("ocr", "vision", quality or self.config.ocr.quality, model)
        with self._failing(call):
            data = self._image_bytes(image)
            mode_name, ocr_mode = self._ocr_mode(mode)
            params = self._with_ocr_fallbacks(call, params)
            key = self._image_key(call, cache, data, ["ocr", mode_name, ocr_mode.model_dump()], params)
            hit = self._cached(call, key, OCRResult)
            if hit is not None:
                return hit
            request = self._ocr_request(call, data, mode_name, ocr_mode)
        return self._remember(key, request.result(self._run(call, request.messages, params)))

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
        """``ocr``, awaited; decoding, resizing and tiling run off the event loop."""
        call = self._start("ocr", "vision", quality or self.config.ocr.quality, model)
        with self._failing(call):
            data = await self._aimage_bytes(image)
            mode_name, ocr_mode = self._ocr_mode(mode)
            params = self._with_ocr_fallbacks(call, params)
            key = self._image_key(call, cache, data, ["ocr", mode_name, ocr_mode.model_dump()], params)
            hit = self._cached(call, key, OCRResult)
            if hit is not None:
                return hit
            request = await asyncio.to_thread(self._ocr_request, call, data, mode_name, ocr_mode)
        return self._remember(key, request.result(await self._arun(call, request.messages, params)))

    def cache_stats(self) -> list[CacheStats]:
        """Entries, bytes, hits and misses of the image and response caches."""
        return self.caches.stats()

    @property
    def caches(self) -> Caches:
        if self._caches is None:
            settings = self.config.cache
            self._caches = Caches(
                self.config.resolve_path(settings.dir),
                image_ttl_s=settings.image_ttl_s,
                response_ttl_s=settings.response_ttl_s,
            )
        return self._caches

    @property
    def fetcher(self) -> ImageFetcher:
        if self._fetcher is None:
            self._fetcher = ImageFetcher(**self.config.fetch.model_dump())
        return self._fetcher

    def _image_bytes(self, image: ImageInput) -> bytes:
        if is_url(image):
            return fetch_cached(str(image), self.fetcher, self.caches if self.config.cache.enabled else None)
        return local_bytes(image)

    async def _aimage_bytes(self, image: ImageInput) -> bytes:
        if is_url(image):
            return await afetch_cached(
                str(image), self.fetcher, self.caches if self.config.cache.enabled else None
            )
        return await asyncio.to_thread(local_bytes, image)

    def _require_vision(self, call: _Call) -> None:
        if not call.info.vision and call.info.mode != "ocr":
            raise CapabilityError(
                f"alias {call.info.alias!r} ({call.info.litellm_model}) does not accept images; "
                "pick a vision alias, or set vision: true on it if LiteLLM's table is wrong"
            )

    def _image_key(
        self, call: _Call, cache: bool | None, data: bytes, recipe: list[Any], params: dict[str, Any]
    ) -> str | None:
        """Cache key of an image call. The raw bytes' digest plus the normalisation recipe (model,
        detail, mode) stands for the normalised image, so a hit skips decoding altogether."""
        self._require_vision(call)
        return self._cache_key(call, cache, True, [hashlib.sha256(data).hexdigest(), *recipe], params)

    def _with_ocr_fallbacks(self, call: _Call, params: dict[str, Any]) -> dict[str, Any]:
        """OCR may fall back further than vision: ``ocr.fallback`` extends the alias's chain."""
        extra = [name for name in self.config.ocr.fallback if name not in self._runtime.plan.unavailable]
        if not extra or "fallbacks" in params:
            return params
        chain = [
            name
            for name in fallback_chain(self.config, call.info.alias)
            if name not in self._runtime.plan.unavailable
        ]
        chain += [name for name in extra if name not in chain and name != call.info.alias]
        return {**params, "fallbacks": [{call.info.alias: chain}]}

    def _ocr_mode(self, name: str | None) -> tuple[str, OcrMode]:
        modes = self.config.ocr.modes or DEFAULT_MODES
        chosen = name or self.config.ocr.default_mode
        if chosen not in modes:
            raise UnknownAliasError(
                f"unknown OCR mode {chosen!r}{closest(chosen, list(modes))}; modes: {', '.join(modes)}"
            )
        return chosen, modes[chosen]

    def _vision_request(
        self, call: _Call, data: bytes, prompt: str, detail: Detail
    ) -> _ImageRequest[VisionResult]:
        max_pixels = self.config.fetch.max_pixels
        model = call.info.litellm_model
        probe = decode(data, max_pixels=max_pixels, verify=False)
        chosen: Detail = optimal_detail(probe.width, probe.height) if detail == "auto" else detail
        image = normalise(data, model=model, detail=chosen, max_pixels=max_pixels)
        tokens = estimate_image_tokens(image.width, image.height, detail=chosen, model=model)
        extra = {"image_tokens": tokens, "image_width": image.width, "image_height": image.height}
        return _ImageRequest(vision_messages(prompt, image, chosen), VisionResult, extra)

    def _ocr_request(self, call: _Call, data: bytes, name: str, mode: OcrMode) -> _ImageRequest[OCRResult]:
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
        return _ImageRequest(ocr_messages(mode, overview, parts), OCRResult, extra)

    # -- shared steps -----------------------------------------------------------------------------
    def _cache_key(
        self, call: _Call, requested: bool | None, default: bool, content: Any, params: dict[str, Any]
    ) -> str | None:
        """A digest of everything that decides the answer, or None when this call is not cached."""
        if not self.config.cache.enabled or not (default if requested is None else requested):
            return None
        return response_key(model=call.info.litellm_model, kind=call.kind, content=content, params=params)

    def _cached(self, call: _Call, key: str | None, result_type: type[_C]) -> _C | None:
        stored = self.caches.get_response(key) if key is not None else None
        if stored is None:
            return None
        result = result_type.model_validate(stored)
        hit = result.model_copy(
            update={
                "cached": True,
                "cost_usd": 0.0,
                "saved_usd": result.cost_usd or 0.0,
                "requested": call.requested,
                "fallbacks_tried": (),
                "latency_ms": call.elapsed_ms(),
                "request_id": call.request_id,
            }
        )
        self._result_event(call, hit)
        return hit

    def _remember(self, key: str | None, result: _C) -> _C:
        if key is not None:
            self.caches.put_response(key, result.model_dump(mode="json"))
        return result

    def _run(self, call: _Call, body: list[Message], params: dict[str, Any]) -> ChatResult:
        try:
            response = self._runtime.router.completion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._finish_chat(call, response)

    async def _arun(self, call: _Call, body: list[Message], params: dict[str, Any]) -> ChatResult:
        try:
            response = await self._runtime.router.acompletion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._finish_chat(call, response)

    @contextmanager
    def _failing(self, call: _Call) -> Iterator[None]:
        """Errors before the request is sent (bad image, wrong capability) still get their event."""
        try:
            yield
        except LLMCfgError as error:
            self._event(call.kind, call.requested, call.info, call.request_id, call.started, error=error)
            raise

    @staticmethod
    def _params(call: _Call, params: dict[str, Any]) -> dict[str, Any]:
        metadata = dict(params.pop("metadata", None) or {})
        metadata[REQUEST_ID_KEY] = call.request_id
        return {**params, "metadata": metadata}

    def _answered_by(self, response: Any, call: _Call) -> str:
        hidden = getattr(response, "_hidden_params", None) or {}
        group = (hidden.get("additional_headers") or {}).get("x-litellm-model-group")
        if group in self.config.models:
            return str(group)
        model_id = str(hidden.get("model_id") or "")
        alias = model_id.partition("#")[0]
        return alias if alias in self.config.models else call.info.alias

    def _tried(self, call: _Call, answered: str | None) -> tuple[str, ...]:
        failed = [group for group in attempts.pop(call.request_id) if group != answered]
        if answered is not None and answered != call.info.alias and not failed:
            # The failure callback may not have run yet: infer from the configured order.
            chain = [call.info.alias, *fallback_chain(self.config, call.info.alias)]
            failed = chain[: chain.index(answered)] if answered in chain else [call.info.alias]
        return tuple(failed)

    @staticmethod
    def _cost(info: AliasInfo, usage: Usage, table_usd: float | None) -> CallCost:
        return token_cost(
            info,
            usage.tokens_in,
            usage.tokens_out,
            provider_usd=usage.reported_usd if info.reports_cost else None,
            table_usd=table_usd,
            cached_in=usage.cached_in,
        )

    def _finish_chat(self, call: _Call, response: Any) -> ChatResult:
        answered = self._answered_by(response, call)
        info = call.info if answered == call.info.alias else self._describe(answered)
        hidden = getattr(response, "_hidden_params", None) or {}
        usage = Usage.of(getattr(response, "usage", None))
        table_usd = hidden.get("response_cost") if not usage.cached_in else None  # ours knows cached rates
        cost = self._cost(info, usage, table_usd)
        choice = response.choices[0]
        result = ChatResult(
            text=choice.message.content or "",
            model=str(hidden.get("litellm_model_name") or info.litellm_model),
            alias=answered,
            requested=call.requested,
            fallbacks_tried=self._tried(call, answered),
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost_usd=cost.usd,
            cost_source=cost.source,
            latency_ms=call.elapsed_ms(),
            request_id=call.request_id,
            finish_reason=getattr(choice, "finish_reason", None),
            tool_calls=tool_calls(choice.message),
            cached_tokens=usage.cached_in,
            reasoning_tokens=usage.reasoning,
        )
        self._result_event(call, result)
        return result

    def _finish_stream(
        self, call: _Call, body: list[Message], state: StreamState, abandoned: bool
    ) -> ChatResult:
        answered = self._answered_by(state.raw, call) if state.raw is not None else call.info.alias
        info = call.info if answered == call.info.alias else self._describe(answered)
        usage = Usage.of(state.usage)
        cost = self._cost(info, usage, None)
        if state.usage is None:  # abandoned (or no usage sent): count both ways, record it as an estimate
            usage = Usage(
                tokens_in=count_tokens(body, model=info.litellm_model),
                tokens_out=count_tokens(state.text, model=info.litellm_model) if state.text else 0,
            )
            cost = self._cost(info, usage, None)
            cost = CallCost(cost.usd, "estimate" if cost.usd is not None else "unknown")
        hidden = getattr(state.raw, "_hidden_params", None) or {}
        result = ChatResult(
            text=state.text,
            model=str(hidden.get("litellm_model_name") or info.litellm_model),
            alias=answered,
            requested=call.requested,
            fallbacks_tried=self._tried(call, answered),
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost_usd=cost.usd,
            cost_source=cost.source,
            latency_ms=call.elapsed_ms(),
            request_id=call.request_id,
            finish_reason="abandoned" if abandoned else "stop",
            cached_tokens=usage.cached_in,
            reasoning_tokens=usage.reasoning,
        )
        self._result_event(call, result, {"stream": "abandoned" if abandoned else "complete"})
        return result

    def _finish_embed(self, call: _Call, response: Any) -> EmbedResult:
        answered = self._answered_by(response, call)
        info = call.info if answered == call.info.alias else self._describe(answered)
        hidden = getattr(response, "_hidden_params", None) or {}
        usage = Usage.of(getattr(response, "usage", None))
        cost = self._cost(info, usage, hidden.get("response_cost"))
        vectors = [
            list(item["embedding"] if isinstance(item, dict) else item.embedding) for item in response.data
        ]
        result = EmbedResult(
            vectors=vectors,
            model=str(hidden.get("litellm_model_name") or info.litellm_model),
            alias=answered,
            requested=call.requested,
            fallbacks_tried=self._tried(call, answered),
            tokens_in=usage.tokens_in,
            cost_usd=cost.usd,
            cost_source=cost.source,
            latency_ms=call.elapsed_ms(),
            request_id=call.request_id,
        )
        self._result_event(call, result)
        return result

    def _result_event(self, call: _Call, result: CallResult, extra: dict[str, Any] | None = None) -> None:
        info = call.info if result.alias == call.info.alias else self._describe(result.alias)
        self._event(
            call.kind,
            call.requested,
            info,
            call.request_id,
            call.started,
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            fallbacks_tried=list(result.fallbacks_tried),
            model=result.model,
            cached=result.cached,
            saved_usd=result.saved_usd,
            extra={
                **{
                    name: getattr(result, name, 0)
                    for name in ("cached_tokens", "reasoning_tokens")
                    if getattr(result, name, 0)
                },
                **(extra or {}),
            },
        )

    def _fail(self, call: _Call, error: Exception) -> LLMCfgError:
        failed = attempts.pop(call.request_id)
        tried = (call.info.alias, *(g for g in failed if g != call.info.alias))
        translated = (
            error
            if isinstance(error, LLMCfgError)
            else translate(
                error,
                alias=call.info.alias,
                model=call.info.litellm_model,
                tried=tried,
                secrets=self._runtime.secrets(),
            )
        )
        self._event(
            call.kind,
            call.requested,
            call.info,
            call.request_id,
            call.started,
            error=translated,
            fallbacks_tried=list(tried),
        )
        return translated

    def _event(
        self,
        kind: str,
        requested: str,
        info: AliasInfo | None,
        request_id: str,
        started: float,
        *,
        error: LLMCfgError | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float | None = 0.0,
        cost_source: str = "none",
        fallbacks_tried: list[str] | None = None,
        model: str | None = None,
        cached: bool = False,
        saved_usd: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "request_id": request_id,
            "kind": kind,
            "requested": requested,
            "alias": info.alias if info else None,
            "model": model or (info.litellm_model if info else None),
            "provider": info.provider if info else None,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost_usd if error is None else 0.0,
            "cost_source": cost_source if error is None else "none",
            "cached": cached,
            "saved_usd": saved_usd,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "status": "ok" if error is None else "error",
            "error": type(error).__name__ if error is not None else None,
            "fallbacks_tried": fallbacks_tried or [],
        }
        if error is not None and isinstance(error, ProviderError):
            fields["error_message"] = str(error)
        fields.update(extra or {})
        emit(fields, self._cost_log)
