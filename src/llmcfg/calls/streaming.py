"""Streams of text deltas with exactly one ``llm.call`` event, when the stream ends or is abandoned.

The request is sent on first iteration. LiteLLM's Router falls back while opening the stream, that
is before any token reached the caller; a failure after that is raised, never papered over with a
second model's answer spliced onto the first one's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from llmcfg.exceptions import LLMCfgError
from llmcfg.results import ChatResult

__all__ = ["AsyncChatStream", "ChatStream", "StreamState"]


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


Finisher = Callable[[StreamState, bool], ChatResult]  # (state, abandoned) -> result, emits the event
Failer = Callable[[Exception], LLMCfgError]


class _Stream:
    """What both kinds of stream share: the state, the one iteration, the one finish."""

    def __init__(self, finish: Finisher, fail: Failer) -> None:
        self._finish = finish
        self._fail = fail
        self._state = StreamState()

    @property
    def result(self) -> ChatResult | None:
        return self._state.result

    def _begin(self) -> StreamState:
        if self._state.closed:
            raise RuntimeError("a stream can be iterated once")
        self._state.closed = True
        return self._state

    def _end(self, completed: bool) -> None:
        self._state.result = self._finish(self._state, not completed)


class ChatStream(_Stream):
    """Iterate for text deltas; ``result`` holds the ChatResult once the stream is over."""

    def __init__(self, open_stream: Callable[[], Any], finish: Finisher, fail: Failer) -> None:
        super().__init__(finish, fail)
        self._open = open_stream

    def __iter__(self) -> Iterator[str]:
        state = self._begin()
        failed = completed = False
        try:
            state.raw = self._open()
            for chunk in state.raw:
                delta = state.take(chunk)
                if delta:
                    yield delta
            completed = True
        except Exception as error:
            failed = True
            raise self._fail(error) from error
        finally:
            if not failed:
                if not completed:
                    getattr(state.raw, "close", lambda: None)()
                self._end(completed)


class AsyncChatStream(_Stream):
    """``async for`` twin of ChatStream."""

    def __init__(self, open_stream: Callable[[], Awaitable[Any]], finish: Finisher, fail: Failer) -> None:
        super().__init__(finish, fail)
        self._open = open_stream

    async def __aiter__(self) -> AsyncIterator[str]:
        state = self._begin()
        failed = completed = False
        try:
            state.raw = await self._open()
            async for chunk in state.raw:
                delta = state.take(chunk)
                if delta:
                    yield delta
            completed = True
        except Exception as error:
            failed = True
            raise self._fail(error) from error
        finally:
            if not failed:
                self._end(completed)
