"""Reading what a LiteLLM response says about tokens, cost and tool calls, in one place, for plain
responses and for the last chunk of a stream alike."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmcfg.results import ToolCall

__all__ = ["Usage", "tool_calls"]


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
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        cost = getattr(usage, "cost", None)
        return cls(
            tokens_in=_int(getattr(usage, "prompt_tokens", 0)),
            tokens_out=_int(getattr(usage, "completion_tokens", 0)),
            cached_in=_int(getattr(prompt_details, "cached_tokens", 0)),
            cache_write_in=_int(getattr(prompt_details, "cache_creation_tokens", 0))
            or _int(getattr(usage, "cache_creation_input_tokens", 0)),
            reasoning=_int(getattr(completion_details, "reasoning_tokens", 0)),
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
