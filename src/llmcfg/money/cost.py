"""What one call cost, and where that number came from.

Order of trust: what the provider reported (OpenRouter's ``usage.cost``), then the alias's own
``price`` (a negotiated price wins), then the tables (llmcfg's image list prices, LiteLLM's table).
A model nobody priced is ``unknown``, never a silent $0.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmcfg.config.aliases import AliasInfo
from llmcfg.money.prices import IMAGE_LIST_PRICES, image_price, price_table

__all__ = ["CallCost", "image_cost", "token_cost"]


@dataclass(frozen=True)
class CallCost:
    usd: float | None
    source: str  # provider | override | table | unknown


def token_cost(
    info: AliasInfo,
    tokens_in: int,
    tokens_out: int,
    *,
    provider_usd: float | None = None,
    table_usd: float | None = None,
    cached_in: int = 0,
    cache_write_in: int = 0,
) -> CallCost:
    """Cost of a token-priced call. ``table_usd`` is LiteLLM's own figure, used for table prices
    because it knows cached-token and tiered rates. ``tokens_in`` includes the ``cached_in`` tokens
    read from the provider's prompt cache and the ``cache_write_in`` tokens written to it, each
    priced at its own rate."""
    if provider_usd is not None:
        return CallCost(float(provider_usd), "provider")
    if info.price_source == "unknown":
        return CallCost(None, "unknown")
    if info.price_source == "table" and table_usd:
        return CallCost(float(table_usd), "table")
    fresh_in = max(0, tokens_in - cached_in - cache_write_in)
    # a cached or cache-write rate of 0 (a free prompt cache) is a price, not a missing one
    cached_rate = (
        info.cached_input_per_token if info.cached_input_per_token is not None else info.input_per_token
    )
    write_rate = (
        info.cache_write_per_token if info.cache_write_per_token is not None else info.input_per_token
    )
    usd = (
        fresh_in * (info.input_per_token or 0.0)
        + cached_in * (cached_rate or 0.0)
        + cache_write_in * (write_rate or 0.0)
        + tokens_out * (info.output_per_token or 0.0)
    )
    return CallCost(usd, info.price_source)


def _litellm_image_price(model: str, size: str | None, quality: str | None, count: int) -> float | None:
    """LiteLLM's ``{quality}/{W-x-H}/{model}`` keys (per image, or per pixel)."""
    if not size or "x" not in size:
        return None
    table = price_table()
    provider, _, bare = model.partition("/")
    dashed = size.replace("x", "-x-")
    keys = [f"{quality}/{dashed}/{bare}", f"{provider}/{quality}/{dashed}/{bare}"] if quality else []
    keys += [f"{dashed}/{bare}", f"standard/{dashed}/{bare}"]
    for key in keys:
        entry = table.get(key)
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("input_cost_per_image"), (int, float)):
            return float(entry["input_cost_per_image"]) * count
        if isinstance(entry.get("input_cost_per_pixel"), (int, float)):
            width, height = (int(side) for side in size.split("x"))
            return float(entry["input_cost_per_pixel"]) * width * height * count
    return None


def image_cost(
    info: AliasInfo,
    size: str | None,
    quality: str | None,
    count: int,
    reported: float | None,
    usage_usd: float | None,
) -> CallCost:
    """What ``count`` generated images cost. ``quality`` is the one in effect (the requested one,
    else the model's default). Order: the provider's figure; the alias's ``price.per_image`` (a
    number, or a map by size / quality/size); the image tokens LiteLLM priced (gpt-image); llmcfg's
    list prices by size and quality; LiteLLM's table by size, then its one price per image for the
    model (fal.ai, Recraft: the figure the budget reserved); else unknown."""
    if reported is not None and info.reports_cost:
        return CallCost(reported, "provider")
    if info.price_source == "override" and info.per_image is not None:
        if not info.image_prices:
            return CallCost(info.per_image * count, "override")
        each = image_price(info.image_prices, size, quality)
        if each is not None:
            return CallCost(each * count, "override")
    if usage_usd:  # token-priced (gpt-image): LiteLLM priced the usage the provider reported
        return CallCost(float(usage_usd), "table")
    listed = IMAGE_LIST_PRICES.get(info.litellm_model)  # also behind an override map that lacks the size
    each = image_price(listed, size, quality) if listed else None
    if each is not None:
        return CallCost(each * count, "table")
    table = _litellm_image_price(info.litellm_model, size, quality, count)
    if table is not None:
        return CallCost(table, "table")
    if listed is None and info.price_source == "table" and info.per_image is not None:
        return CallCost(info.per_image * count, "table")  # one price for every size (a listed model's
        # per_image is only its dearest size: an unlisted size stays unknown)
    return CallCost(None, "unknown")
