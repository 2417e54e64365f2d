"""Token counting with LiteLLM's tokenizers (imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcfg.routing.router import import_litellm

__all__ = ["count_tokens"]

_litellm: Any = None


def _load() -> Any:
    global _litellm
    _litellm = import_litellm()
    return _litellm


def count_tokens(text_or_messages: str | Sequence[dict[str, Any]], *, model: str = "gpt-4o") -> int:
    """Tokens of a text or a message list for ``model`` (a LiteLLM model string)."""
    litellm = _litellm or _load()
    if isinstance(text_or_messages, str):
        return int(litellm.token_counter(model=model, text=text_or_messages))
    return int(litellm.token_counter(model=model, messages=list(text_or_messages)))
