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
    messages = list(text_or_messages)
    # LiteLLM's counter downloads a remote image (detail high) to measure it, under its own SSRF
    # check, weaker than llmcfg's fetcher: such an image is counted at LiteLLM's default instead.
    remote = _remote_images(messages)
    return int(litellm.token_counter(model=model, messages=messages, use_default_image_token_count=remote))


def _remote_images(messages: list[dict[str, Any]]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                value = part.get("image_url")
                url = value.get("url") if isinstance(value, dict) else value
                if not (isinstance(url, str) and url[:5].lower() == "data:"):
                    return True
    return False
