"""What one call cost, and where that number came from.

Order of trust: what the provider reported (OpenRouter's ``usage.cost``), then the alias's own
``price`` (a negotiated price wins), then LiteLLM's table. A model nobody priced is ``unknown``,
never a silent $0.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmcfg.config.aliases import AliasInfo

__all__ = ["CallCost", "token_cost"]


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
) -> CallCost:
    """Cost of a token-priced call. ``table_usd`` is LiteLLM's own figure, used for table prices
    because it knows cached-token and tiered rates."""
    if provider_usd is not None:
        return CallCost(float(provider_usd), "provider")
    if info.price_source == "unknown":
        return CallCost(None, "unknown")
    if info.price_source == "table" and table_usd:
        return CallCost(float(table_usd), "table")
    fresh_in = max(0, tokens_in - cached_in)
    usd = (
        fresh_in * (info.input_per_token or 0.0)
        + cached_in * (info.cached_input_per_token or info.input_per_token or 0.0)
        + tokens_out * (info.output_per_token or 0.0)
    )
    return CallCost(usd, info.price_source)
