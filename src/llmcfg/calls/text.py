"""The text methods of ``LLM``: chat, streams, embeddings, and what the models are and cost
(structured output, built on chat, is in ``calls.extract``). Each public method only builds its kind (a ``Job``) and runs the one call
protocol (``calls.pipeline``): ``drive`` for the sync method, ``adrive`` for the async one."""

from __future__ import annotations

from typing import Any

from llmcfg.calls.core import Call, CallCore, Message, build_messages
from llmcfg.calls.message_images import message_image_steps
from llmcfg.calls.pipeline import Job, Steps, adrive, call_steps, drive
from llmcfg.calls.streaming import AsyncChatStream, ChatStream, StreamCall
from llmcfg.calls.usage import Usage
from llmcfg.config.aliases import AliasInfo
from llmcfg.config.plan import PlanRow, plan_rows
from llmcfg.config.positions import closest
from llmcfg.exceptions import UnknownAliasError
from llmcfg.money.budget.estimate import chat_estimate, embed_estimate
from llmcfg.results import ChatResult, EmbedResult
from llmcfg.routing.counting import count_tokens

__all__ = ["ChatJob", "EmbedJob", "TextMethods"]


class ChatJob(Job[ChatResult]):
    """A chat completion: messages in, a ChatResult out; cached when ``cache.text`` (or ``cache=``) says."""

    kind, preset, result_type = "chat", "text", ChatResult

    def __init__(
        self,
        core: CallCore,
        body: list[Message],
        params: dict[str, Any],
        quality: str | None,
        model: str | None,
        cache: bool | None,
    ) -> None:
        super().__init__(quality, model, cache)
        self.core, self.body, self.params = core, body, params
        self.image_tokens = 0

    def prepare(self, call: Call) -> Steps[str | None]:
        self.params = self.core._chat_params(call, self.params)
        checked = yield from message_image_steps(
            self.core, call.info, self.body
        )  # image URLs: llmcfg's intake
        self.body, self.image_tokens = checked.messages, checked.image_tokens
        return self.core._cache_key(call, self.cache, self.core.config.cache.text, self.body, self.params)

    def build(self, call: Call) -> Steps[dict[str, Any]]:
        yield from ()
        return {**self.params, "messages": self.body}

    def estimate(self, info: AliasInfo) -> float:
        return chat_estimate(info, self.body, self.params, self.image_tokens)

    def read(self, call: Call, response: Any) -> ChatResult:
        return self.core._read_chat(call, response)


class EmbedJob(Job[EmbedResult]):
    """Embeddings: cached by default (they are deterministic)."""

    kind, preset, method, result_type = "embed", "embedding", "embedding", EmbedResult

    def __init__(
        self,
        core: CallCore,
        inputs: list[str],
        params: dict[str, Any],
        quality: str | None,
        model: str | None,
        cache: bool | None,
    ) -> None:
        super().__init__(quality, model, cache)
        self.core, self.inputs, self.params = core, inputs, params

    def prepare(self, call: Call) -> Steps[str | None]:
        yield from ()
        return self.core._cache_key(call, self.cache, True, self.inputs, self.params)

    def build(self, call: Call) -> Steps[dict[str, Any]]:
        yield from ()
        return {**self.params, "input": self.inputs}

    def estimate(self, info: AliasInfo) -> float:
        return embed_estimate(info, self.inputs)

    def read(self, call: Call, response: Any) -> EmbedResult:
        info, hidden = self.core._answerer(call, response)
        usage = Usage.of(getattr(response, "usage", None))
        cost = self.core._cost(info, usage, hidden.get("response_cost"))
        vectors = [
            list(item["embedding"] if isinstance(item, dict) else item.embedding) for item in response.data
        ]
        return EmbedResult(
            **self.core._outcome(call, info, hidden, cost), vectors=vectors, tokens_in=usage.tokens_in
        )


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
        return drive(call_steps(self, ChatJob(self, body, params, quality, model, cache)))

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
        return await adrive(call_steps(self, ChatJob(self, body, params, quality, model, cache)))

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
        with self._failing(call):
            params = self._chat_params(call, params)
        return ChatStream(StreamCall(self, call, body, params))

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
        with self._failing(call):
            params = self._chat_params(call, params)
        return AsyncChatStream(StreamCall(self, call, body, params))

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
        return drive(call_steps(self, EmbedJob(self, inputs, params, quality, model, cache)))

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
        return await adrive(call_steps(self, EmbedJob(self, inputs, params, quality, model, cache)))

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
        """Worst-case USD of a chat call, as the budget reckons it: input tokens counted (images in
        ``messages`` as the call would send them: fetched under the fetch policy, through the image
        cache), output at ``max_tokens`` (else as budgets.md says), on the dearest option of the
        alias's fallback chain. None when the alias has no known price."""
        alias, _ = self.resolve("text", quality=quality, model=model)
        info = self._describe(alias)
        if info.input_per_token is None:
            return None
        limit = {"max_tokens": max_tokens} if max_tokens is not None else {}
        body = build_messages(prompt, messages, None)
        checked = drive(message_image_steps(self, info, body))
        chain = [alias, *self._usable(self._substitutes("chat", alias))]  # the budget reserves the dearest
        return max(
            chat_estimate(self._describe(a), checked.messages, limit, checked.image_tokens) for a in chain
        )
