"""Streams of text deltas with exactly one ``llm.call`` event, when the stream ends or is abandoned.

The request is sent on first iteration. LiteLLM's Router falls back while opening the stream, that
is before any token reached the caller; a failure after that is raised, never papered over with a
second model's answer spliced onto the first one's.

One implementation: ``StreamCall`` holds the protocol of a streamed call as pipeline steps (reserve
and open through the pipeline's ``_reserve_steps`` and ``send_steps``; read the chunks; settle and
record at the end; release and record on a failure), and ``_Stream`` the iteration state.
``ChatStream`` drives the steps with ``drive``, ``AsyncChatStream`` with ``adrive``, so the async
stream reserves and settles without blocking the event loop; their loops differ by ``await`` alone.
Both close the provider's stream when the caller stops early.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from llmcfg.calls.message_images import message_image_steps
from llmcfg.calls.pipeline import Steps, adrive, drive, send_steps
from llmcfg.calls.usage import Usage
from llmcfg.exceptions import LLMCfgError
from llmcfg.money.budget.estimate import chat_estimate
from llmcfg.money.budget.guard import Reservation
from llmcfg.money.cost import CallCost
from llmcfg.results import ChatResult
from llmcfg.routing.counting import count_tokens, table_cost

if TYPE_CHECKING:
    from llmcfg.calls.core import Call, CallCore, Message

__all__ = ["AsyncChatStream", "ChatStream", "StreamCall", "StreamState"]


class StreamState:
    """What a stream has produced so far; handed to the finisher once."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.usage: Any = None
        self.raw: Any = None
        self.result: ChatResult | None = None
        self.closed = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def take(self, chunk: Any) -> str:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        delta = getattr(choices[0], "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        if content:
            self.parts.append(content)
            return str(content)
        return ""


class StreamCall:
    """The steps of one streamed chat call, around the caller's iteration."""

    def __init__(self, core: CallCore, call: Call, body: list[Message], params: dict[str, Any]) -> None:
        self.core, self.call, self.body, self.params = core, call, body, params
        self.reservation: Reservation | None = None

    def open(self) -> Steps[Any]:
        """Images through llmcfg's intake, reserve the worst case, then open the stream (the Router
        may fall back here)."""
        checked = yield from message_image_steps(self.core, self.call.info, self.body)
        self.body, images = checked.messages, checked.image_tokens
        self.reservation = yield from self.core._reserve_steps(
            self.call, lambda info: chat_estimate(info, self.body, self.params, images)
        )
        kwargs = {
            **self.params,
            "messages": self.body,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return (yield from send_steps(self.core, self.call, "completion", kwargs))

    def interrupted(self, error: BaseException) -> None:
        """Cancelled or interrupted while opening (reserving, a hook's wait, sending): as a call
        cancelled there, nothing came back to count; the reservation is released in place (a
        cancelled task must not wait again) and the call recorded as failed, at $0."""
        drive(self.core._release(self.reservation))
        self.core._interrupted(self.call, error)

    def fail(self, error: Exception, state: StreamState) -> Steps[LLMCfgError]:
        """The typed error to raise, recorded. Before any text arrived nothing was generated: the
        reservation is released. A stream the provider broke off mid-answer was generated up to
        there, and is paid for: what arrived is counted as for an abandoned stream (an estimate),
        carried by the error event (``stream: broken``) and settled."""
        if not state.parts:
            yield from self.core._release(self.reservation)
            return self.core._fail(self.call, error)
        spent = self._result(state, abandoned=True)
        try:
            failed = self.core._fail(self.call, error, spent=spent)
        finally:  # a hook or log processor that raises must not leave the paid part unsettled
            yield from self.core._settle(self.reservation, spent)
        return failed

    def finish(self, state: StreamState, abandoned: bool) -> Steps[ChatResult]:
        """The result, recorded, and the reservation settled to its cost."""
        result = self._result(state, abandoned)
        try:
            self.core._result_event(self.call, result, {"stream": "abandoned" if abandoned else "complete"})
        finally:  # a hook or log processor that raises must not leave the paid stream unsettled
            yield from self.core._settle(self.reservation, result)
        return result

    def _result(self, state: StreamState, abandoned: bool) -> ChatResult:
        """What the stream came to: its usage when the provider sent it, else an estimate."""
        core, call = self.core, self.call
        info, hidden = core._answerer(call, state.raw)
        usage = Usage.of(state.usage)
        # LiteLLM's price of the last chunk's usage, as a plain answer's response_cost (cached and
        # tiered rates), for table prices; a provider that reports its cost is taken at its word by
        # _cost. (A stream's usage.cost may be LiteLLM's own figure: not a provider's report.)
        table_usd = (
            table_cost(info.litellm_model, state.usage)
            if state.usage is not None and info.price_source == "table" and not info.reports_cost
            else None
        )
        cost = core._cost(info, usage, table_usd)
        if state.usage is None:  # abandoned (or no usage sent): count both ways, record it as an estimate
            usage = Usage(
                tokens_in=count_tokens(self.body, model=info.litellm_model),
                tokens_out=count_tokens(state.text, model=info.litellm_model) if state.text else 0,
            )
            cost = core._cost(info, usage, None)
            cost = CallCost(cost.usd, "estimate" if cost.usd is not None else "unknown")
        return ChatResult(
            **core._outcome(call, info, hidden, cost),
            text=state.text,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            finish_reason="abandoned" if abandoned else "stop",
            cached_tokens=usage.cached_in,
            cache_write_tokens=usage.cache_write_in,
            reasoning_tokens=usage.reasoning,
        )


class _Stream:
    """What both kinds of stream share: the state, the one iteration, the one finish."""

    def __init__(self, steps: StreamCall) -> None:
        self._steps = steps
        self._state = StreamState()

    @property
    def result(self) -> ChatResult | None:
        return self._state.result

    def _begin(self) -> StreamState:
        if self._state.closed:
            raise RuntimeError("a stream can be iterated once")
        self._state.closed = True
        return self._state


class ChatStream(_Stream):
    """Iterate for text deltas; ``result`` holds the ChatResult once the stream is over."""

    def __iter__(self) -> Iterator[str]:
        state = self._begin()
        completed, caught = False, None
        try:
            try:
                state.raw = drive(self._steps.open())
            except BaseException as error:
                if not isinstance(error, Exception):  # interrupted while opening: recorded, raised
                    self._steps.interrupted(error)
                raise
            for chunk in state.raw:
                delta = state.take(chunk)
                if delta:
                    yield delta
            completed = True
        except Exception as error:
            caught = error
        finally:
            if caught is None and state.raw is not None:
                if not completed:
                    getattr(state.raw, "close", lambda: None)()
                state.result = drive(self._steps.finish(state, not completed))
        if caught is not None:  # released and raised outside the except clause: no raw error as __context__
            raise drive(self._steps.fail(caught, state))


class AsyncChatStream(_Stream):
    """``async for`` form of ChatStream. Stopping early (``break``) closes the provider's stream when
    the iterator is closed: at once with ``await stream.aclose()``, else when asyncio finalises it."""

    def __init__(self, steps: StreamCall) -> None:
        super().__init__(steps)
        self._iterator: AsyncGenerator[str, None] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        self._iterator = self._deltas()
        return self._iterator

    async def aclose(self) -> None:
        """Stop now: close the provider's stream and record the call as abandoned."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def _deltas(self) -> AsyncGenerator[str, None]:
        state = self._begin()
        completed, caught = False, None
        try:
            try:
                state.raw = await adrive(self._steps.open())
            except BaseException as error:
                if not isinstance(error, Exception):  # cancelled while opening: recorded, raised
                    self._steps.interrupted(error)
                raise
            async for chunk in state.raw:
                delta = state.take(chunk)
                if delta:
                    yield delta
            completed = True
        except Exception as error:
            caught = error
        finally:
            if caught is None and state.raw is not None:
                if not completed and hasattr(state.raw, "aclose"):
                    await state.raw.aclose()
                state.result = await adrive(self._steps.finish(state, not completed))
        if caught is not None:  # released and raised outside the except clause: no raw error as __context__
            raise await adrive(self._steps.fail(caught, state))
