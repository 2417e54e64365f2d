"""Reading what a LiteLLM response says about tokens, cost and tool calls, in one place, for plain
responses and for the last chunk of a stream alike."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmcfg.results import ToolCall

__all__ = ["Usage", "field", "tool_calls"]

_ABSENT = object()


@lru_cache(maxsize=512)
def _on_class(cls: type, name: str) -> bool:
    """Whether ``name`` is a class attribute of ``cls`` (a property, a method): found by getattr."""
    return any(name in vars(klass) for klass in cls.__mro__)


def field(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)``, but cheap when a pydantic model (LiteLLM's responses) lacks the
    attribute: there a miss runs pydantic's and LiteLLM's ``__getattr__`` in Python and raises, ~2-3 us
    each, several per call (``usage.cost``, ``usage.cache_creation_input_tokens`` are usually absent).
    A model keeps its fields in ``__dict__``, its extra fields in ``__pydantic_extra__`` and its private
    attributes (``_hidden_params``) in ``__pydantic_private__``; anything else goes through getattr."""
    if obj is None:
        return None
    values = getattr(obj, "__dict__", None)
    if values is not None:
        found = values.get(name, _ABSENT)
        if found is not _ABSENT:
            return found
    cls: type = type(obj)
    if not _on_class(cls, "__pydantic_fields__") or _on_class(cls, name):
        return getattr(obj, name, None)
    kept = getattr(obj, "__pydantic_private__" if name.startswith("_") else "__pydantic_extra__", None)
    return kept.get(name) if kept is not None else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


@dataclass(frozen=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    cached_in: int = 0  # input tokens served from the provider's prompt cache
    cache_write_in: int = 0  # input tokens written to the provider's prompt cache (Anthropic)
    reasoning: int = 0  # output tokens spent on reasoning
    reported_usd: float | None = None  # usage.cost, when the response has one

    @classmethod
    def of(cls, usage: Any) -> Usage:
        if usage is None:
            return cls()
        prompt_details = field(usage, "prompt_tokens_details")
        cost = field(usage, "cost")
        return cls(
            tokens_in=_int(field(usage, "prompt_tokens")),
            tokens_out=_int(field(usage, "completion_tokens")),
            cached_in=_int(field(prompt_details, "cached_tokens")),
            cache_write_in=_int(field(prompt_details, "cache_creation_tokens"))
            or _int(field(usage, "cache_creation_input_tokens")),
            reasoning=_int(field(field(usage, "completion_tokens_details"), "reasoning_tokens")),
            reported_usd=float(cost) if isinstance(cost, (int, float)) else None,
        )


def tool_calls(message: Any) -> tuple[ToolCall, ...]:
    """The message's tool calls, arguments parsed as JSON (None when they are not valid JSON)."""
    calls = []
    for raw in getattr(message, "tool_calls", None) or []:
        function = getattr(raw, "function", None)
        arguments = str(getattr(function, "arguments", "") or "")
        try:
            parsed = json.loads(arguments) if arguments else {}
        except json.JSONDecodeError:
            parsed = None
        calls.append(
            ToolCall(
                id=str(getattr(raw, "id", "") or ""),
                name=str(getattr(function, "name", "") or ""),
                arguments=parsed if isinstance(parsed, dict) else None,
                raw_arguments=arguments,
            )
        )
    return tuple(calls)
