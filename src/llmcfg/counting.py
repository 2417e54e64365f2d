"""Token counting with LiteLLM's tokenizers (imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcfg.routing import import_litellm

__all__ = ["count_tokens"]


def count_tokens(text_or_messages: str | Sequence[dict[str, Any]], *, model: str = "gpt-4o") -> int:
    """Tokens of a text or a message list for ``model`` (a LiteLLM model string)."""
    litellm = import_litellm()
    if isinstance(text_or_messages, str):
        return int(litellm.token_counter(model=model, text=text_or_messages))
    return int(litellm.token_counter(model=model, messages=list(text_or_messages)))
