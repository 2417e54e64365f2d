"""The text methods of ``LLM``: chat, streams, embeddings, structured output, and what the
models are and cost."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from llmcfg.calls.core import Call, CallCore, Message, build_messages
from llmcfg.calls.streaming import AsyncChatStream, ChatStream, StreamState
from llmcfg.calls.structured import feedback, response_format, schema_instruction, validate_answer
from llmcfg.calls.usage import Usage
from llmcfg.config.plan import PlanRow, plan_rows
from llmcfg.config.positions import closest
from llmcfg.exceptions import (
    LLMCfgError,
    StructuredOutputError,
    UnknownAliasError,
)
from llmcfg.money.budget.estimate import chat_estimate, embed_estimate
from llmcfg.money.budget.guard import Reservation
from llmcfg.money.cost import CallCost
from llmcfg.results import ChatResult, EmbedResult, ExtractResult
from llmcfg.routing.counting import count_tokens

__all__ = ["TextMethods"]

M = TypeVar("M", bound=BaseModel)


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


class TextMethods(CallCore):
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
        body = build_messages(prompt, messages, system)
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
        body = build_messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        key = self._cache_key(call, cache, self.config.cache.text, body, params)
        hit = self._cached(call, key, ChatResult)
        return hit if hit is not None else self._remember(key, await self._arun(call, body, params))

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
        body = build_messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        kwargs = self._params(call, {**params, "stream": True, "stream_options": {"include_usage": True}})
        held: list[Reservation | None] = []

        def open_stream() -> Any:
            held.append(self._reserve(call, lambda info: chat_estimate(info, body, params)))
            return self._runtime.router.completion(model=call.info.alias, messages=body, **kwargs)

        def finish(state: StreamState, abandoned: bool) -> ChatResult:
            result = self._finish_stream(call, body, state, abandoned)
            self._settle(held[0] if held else None, result)
            return result

        def fail(error: Exception) -> LLMCfgError:
            self._release(held[0] if held else None)
            return self._fail(call, error)

        return ChatStream(open_stream, finish, fail)

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
        body = build_messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        kwargs = self._params(call, {**params, "stream": True, "stream_options": {"include_usage": True}})
        held: list[Reservation | None] = []

        async def open_stream() -> Any:
            held.append(self._reserve(call, lambda info: chat_estimate(info, body, params)))
            return await self._runtime.router.acompletion(model=call.info.alias, messages=body, **kwargs)

        def finish(state: StreamState, abandoned: bool) -> ChatResult:
            result = self._finish_stream(call, body, state, abandoned)
            self._settle(held[0] if held else None, result)
            return result

        def fail(error: Exception) -> LLMCfgError:
            self._release(held[0] if held else None)
            return self._fail(call, error)

        return AsyncChatStream(open_stream, finish, fail)

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
        reservation = None
        try:
            reservation = self._reserve(call, lambda info: embed_estimate(info, inputs))
            response = self._runtime.router.embedding(
                model=call.info.alias, input=inputs, **self._params(call, params)
            )
        except Exception as error:
            self._release(reservation)
            raise self._fail(call, error) from error
        result = self._finish_embed(call, response)
        self._settle(reservation, result)
        return self._remember(key, result)

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
        reservation = None
        try:
            reservation = self._reserve(call, lambda info: embed_estimate(info, inputs))
            response = await self._runtime.router.aembedding(
                model=call.info.alias, input=inputs, **self._params(call, params)
            )
        except Exception as error:
            self._release(reservation)
            raise self._fail(call, error) from error
        result = self._finish_embed(call, response)
        self._settle(reservation, result)
        return self._remember(key, result)

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
            build_messages(prompt_or_messages, None, None)
            if isinstance(prompt_or_messages, str)
            else list(prompt_or_messages)
        )
        if not strict:
            messages = [schema_instruction(schema), *messages]
        return messages, response_format(schema, strict)

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
        """Worst-case USD of a chat call, as the budget reckons it: input tokens counted, output at
        ``max_tokens`` (or the model's maximum). None when the alias has no known price."""
        alias, _ = self.resolve("text", quality=quality, model=model)
        info = self._describe(alias)
        if info.input_per_token is None:
            return None
        limit = {"max_tokens": max_tokens} if max_tokens is not None else {}
        return chat_estimate(info, build_messages(prompt, messages, None), limit)

    def _finish_stream(
        self, call: Call, body: list[Message], state: StreamState, abandoned: bool
    ) -> ChatResult:
        info, hidden = self._answerer(call, state.raw)
        usage = Usage.of(state.usage)
        cost = self._cost(info, usage, None)
        if state.usage is None:  # abandoned (or no usage sent): count both ways, record it as an estimate
            usage = Usage(
                tokens_in=count_tokens(body, model=info.litellm_model),
                tokens_out=count_tokens(state.text, model=info.litellm_model) if state.text else 0,
            )
            cost = self._cost(info, usage, None)
            cost = CallCost(cost.usd, "estimate" if cost.usd is not None else "unknown")
        result = ChatResult(
            **self._outcome(call, info, hidden, cost),
            text=state.text,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            finish_reason="abandoned" if abandoned else "stop",
            cached_tokens=usage.cached_in,
            reasoning_tokens=usage.reasoning,
        )
        self._result_event(call, result, {"stream": "abandoned" if abandoned else "complete"})
        return result

    def _finish_embed(self, call: Call, response: Any) -> EmbedResult:
        info, hidden = self._answerer(call, response)
        usage = Usage.of(getattr(response, "usage", None))
        cost = self._cost(info, usage, hidden.get("response_cost"))
        vectors = [
            list(item["embedding"] if isinstance(item, dict) else item.embedding) for item in response.data
        ]
        result = EmbedResult(
            **self._outcome(call, info, hidden, cost), vectors=vectors, tokens_in=usage.tokens_in
        )
        self._result_event(call, result)
        return result
