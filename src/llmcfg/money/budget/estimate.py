"""Worst-case cost of a call before it is sent: input counted, output at the most it may be.

The output figure is, in order: the call's ``max_tokens``, the alias's ``params.max_tokens``,
``budgets.assume_output_tokens`` (capped at the model's maximum), the model's maximum output. The
estimate says which one it used (``Estimate.basis``), so a refusal can tell the user what to lower.

An alias with no known price estimates to 0: it cannot be capped beforehand, so budgets refuse such
an alias at load unless ``budgets.unpriced: allow`` (then it is recorded as unknown after the call).
"""

from __future__ import annotations

from typing import Any

from llmcfg.config.aliases import AliasInfo
from llmcfg.money.prices import upper_tier
from llmcfg.routing.counting import count_tokens

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "Estimate",
    "chat_estimate",
    "embed_estimate",
    "image_estimate",
    "output_tokens",
    "text_only",
]

DEFAULT_MAX_OUTPUT_TOKENS = 4096  # when nothing says: neither the call, the alias, the budget nor the table


class Estimate(float):
    """A worst-case cost in USD (usable as the float it is) that says how it was reached."""

    basis: str

    def __new__(cls, usd: float, basis: str = "") -> Estimate:
        estimate = super().__new__(cls, usd)
        estimate.basis = basis
        return estimate


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


_LOWER = "set max_tokens on the call or params.max_tokens on the alias to lower it"


def output_tokens(info: AliasInfo, params: dict[str, Any]) -> tuple[int, str]:
    """The most output tokens the call may produce, and where that figure came from."""
    asked = max(int(params.get("max_tokens") or 0), int(params.get("max_completion_tokens") or 0))
    if asked:  # both set: the larger may be the one the provider honours
        return asked, "the call's max_tokens"
    if info.max_tokens:
        return info.max_tokens, f"alias {info.alias!r} params.max_tokens"
    maximum = info.max_output_tokens
    assumed = info.assume_output_tokens
    if assumed and (maximum is None or assumed < maximum):
        return assumed, f"budgets.assume_output_tokens; {_LOWER}"
    if maximum:
        return maximum, f"the model's maximum output; {_LOWER}, or set budgets.assume_output_tokens"
    return DEFAULT_MAX_OUTPUT_TOKENS, f"llmcfg's default; {_LOWER}"


def chat_estimate(
    info: AliasInfo, messages: list[dict[str, Any]], params: dict[str, Any], image_tokens: int = 0
) -> Estimate:
    if info.input_per_token is None:
        return Estimate(0.0, f"alias {info.alias!r} has no known price")
    tokens_in = count_tokens(text_only(messages), model=info.litellm_model) + image_tokens
    tokens_out, source = output_tokens(info, params)
    # The worst case for input: every token written to the provider's prompt cache (Anthropic
    # charges 1.25x input for that), so a budget never lets a cache-writing call through on the
    # plain input rate.
    input_rate = max(info.input_per_token, info.cache_write_per_token or 0.0)
    output_rate = info.output_per_token or 0.0
    # a long prompt, or a dearer service tier asked for: the whole call at that tier's rates
    service = "priority" if params.get("service_tier") == "priority" else ""
    tier = upper_tier(info.litellm_model, tokens_in, service) if info.price_source == "table" else None
    if tier is not None:
        input_rate, output_rate = max(input_rate, tier[0], tier[2]), max(output_rate, tier[1])
    # ``n`` asks for several answers to the one prompt: the input is paid once, the output per answer
    choices = max(1, int(params.get("n") or 1))
    usd = tokens_in * input_rate + choices * tokens_out * output_rate
    each = f" x {choices} answers (n)" if choices > 1 else ""
    return Estimate(usd, f"{info.alias}: {tokens_in:,} tokens in, {tokens_out:,} out{each} ({source})")


def embed_estimate(info: AliasInfo, texts: list[str]) -> Estimate:
    if info.input_per_token is None:
        return Estimate(0.0, f"alias {info.alias!r} has no known price")
    tokens = sum(count_tokens(text, model=info.litellm_model) for text in texts)
    return Estimate(tokens * info.input_per_token, f"{info.alias}: {tokens:,} tokens in")


_QUALITIES = (None, "high", "hd", "medium", "standard", "low")


def image_estimate(info: AliasInfo, size: str | None, quality: str | None, n: int) -> Estimate:
    """What ``n`` images cost at most: the alias's per-image price, else the tables' price for the
    size and quality; when the provider chooses the quality (none asked, or ``auto``), or the one
    asked has no price, the dearest quality priced for that size (gpt-image-1.5's table has a price
    with no quality, its cheapest, while ``auto`` may pick high at 15 times that); else 0 (unpriced)."""
    from llmcfg.money.cost import image_cost

    if quality not in (None, "auto"):
        asked = image_cost(info, size, quality, n, None, None)
        if asked.usd is not None:
            return Estimate(asked.usd, f"{info.alias}: {n} image(s) {size or ''} {quality}".rstrip())
    priced = [
        (cost.usd, candidate)
        for candidate in _QUALITIES
        if (cost := image_cost(info, size, candidate, n, None, None)).usd is not None
    ]
    if priced:
        usd, candidate = max(priced, key=lambda pair: pair[0] or 0.0)
        return Estimate(usd or 0.0, f"{info.alias}: {n} image(s) {size or ''} {candidate or ''}".rstrip())
    if info.per_image is not None:
        return Estimate(info.per_image * n, f"{info.alias}: {n} image(s) at its dearest price")
    return Estimate(0.0, f"alias {info.alias!r} has no known price")
