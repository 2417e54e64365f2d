"""Worst-case cost of a call before it is sent: input counted, output at its maximum.

An alias with no known price estimates to 0: it cannot be capped beforehand, only recorded after
(its real cost, when the provider reports one, is what gets settled).
"""

from __future__ import annotations

from typing import Any

from llmcfg.config.aliases import AliasInfo
from llmcfg.routing.counting import count_tokens

__all__ = ["DEFAULT_MAX_OUTPUT_TOKENS", "chat_estimate", "embed_estimate", "image_estimate", "text_only"]

DEFAULT_MAX_OUTPUT_TOKENS = 4096  # when neither the call nor LiteLLM's table says


def text_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with image parts removed: those are counted with the image token formulas."""
    stripped = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            texts = [
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            ]
            message = {**message, "content": "\n".join(texts)}
        stripped.append(message)
    return stripped


def chat_estimate(
    info: AliasInfo, messages: list[dict[str, Any]], params: dict[str, Any], image_tokens: int = 0
) -> float:
    if info.input_per_token is None:
        return 0.0
    tokens_in = count_tokens(text_only(messages), model=info.litellm_model) + image_tokens
    tokens_out = params.get("max_tokens") or params.get("max_completion_tokens") or info.max_output_tokens
    tokens_out = int(tokens_out or DEFAULT_MAX_OUTPUT_TOKENS)
    return tokens_in * info.input_per_token + tokens_out * (info.output_per_token or 0.0)


def embed_estimate(info: AliasInfo, texts: list[str]) -> float:
    if info.input_per_token is None:
        return 0.0
    return sum(count_tokens(text, model=info.litellm_model) for text in texts) * info.input_per_token


def image_estimate(info: AliasInfo, size: str | None, quality: str | None, n: int) -> float:
    """What ``n`` images cost at most: the alias's per-image price, else LiteLLM's table entry for the
    size and quality (``high`` when the provider chooses), else 0 (unpriced)."""
    from llmcfg.images.generation import image_cost

    for candidate in (quality, "high", "hd", "standard"):
        cost = image_cost(info, size, candidate, n, None, None)
        if cost.usd is not None:
            return cost.usd
    return 0.0
