"""What each alias is: its provider, LiteLLM model string, capabilities and prices.

One place answers "what can this alias do and what does it cost", for the checks, ``plan``, the
Router arguments and the cost of a call alike. Reads LiteLLM's table as a file (no import).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from llmcfg.config.schema import Config, ModelAlias, Price
from llmcfg.images.models import image_model
from llmcfg.money.prices import ModelFacts, lookup

__all__ = ["COST_REPORTING_PROVIDERS", "AliasInfo", "describe", "litellm_model"]

# Providers whose responses carry the call's real cost (usage.cost); LiteLLM's table lacks them.
COST_REPORTING_PROVIDERS = frozenset({"openrouter"})


@dataclass(frozen=True)
class AliasInfo:
    alias: str
    model: str  # as written: "<provider>/<model>"
    provider: str  # llmcfg provider name (the prefix)
    litellm_model: str  # what LiteLLM is given: "<litellm provider>/<model>"
    mode: str  # chat | embedding | image_generation | ocr
    vision: bool
    context_window: int | None
    max_output_tokens: int | None
    input_per_token: float | None
    output_per_token: float | None
    per_image: float | None
    cached_input_per_token: float | None
    price_source: str  # override | table | unknown
    reports_cost: bool  # the provider puts the call's cost in its usage (OpenRouter)
    json_schema: bool = False  # accepts response_format json_schema (LiteLLM's table)
    image_prices: Mapping[str, float] = field(default_factory=dict)  # "quality/size" | "size" -> USD
    max_tokens: int | None = None  # the alias's params.max_tokens (or max_completion_tokens)
    assume_output_tokens: int | None = None  # budgets.assume_output_tokens, for estimates
    cache_write_per_token: float | None = None  # input written to the provider's prompt cache

    @property
    def priced(self) -> bool:
        return self.price_source != "unknown"


def litellm_model(config: Config, model: str) -> tuple[str, str]:
    """(provider name, LiteLLM model string) for ``"<provider>/<model>"``."""
    provider, _, name = model.partition("/")
    settings = config.providers.get(provider)
    kind = (settings.kind if settings is not None else None) or provider
    return provider, f"{kind}/{name}"


def describe(config: Config, alias: str) -> AliasInfo:
    entry: ModelAlias = config.models[alias]
    provider, routed = litellm_model(config, entry.model)
    facts: ModelFacts | None = lookup(routed)
    price = entry.price
    if price is not None and (price.input_per_mtok is not None or price.per_image is not None):
        source = "override"
        input_per_token = price.input_per_mtok / 1e6 if price.input_per_mtok is not None else None
        output_per_token = price.output_per_mtok / 1e6 if price.output_per_mtok is not None else None
        image_prices: Mapping[str, float] = {}
        per_image = price.per_image if not isinstance(price.per_image, dict) else None
        if isinstance(price.per_image, dict):  # the headline (plan, estimates) is the dearest
            image_prices, per_image = price.per_image, max(price.per_image.values(), default=None)
        cached = (
            price.cached_input_per_mtok / 1e6 if price.cached_input_per_mtok is not None else input_per_token
        )
        cache_write = _own_cache_write(price, input_per_token, facts)
    elif facts is not None and facts.priced:
        source = "table"
        input_per_token, output_per_token, per_image, image_prices = (
            facts.input_per_token,
            facts.output_per_token,
            facts.per_image,
            facts.image_prices,
        )
        cached = facts.cached_input_per_token if facts.cached_input_per_token is not None else input_per_token
        cache_write = (
            facts.cache_write_per_token if facts.cache_write_per_token is not None else input_per_token
        )
    else:
        source, input_per_token, output_per_token, per_image, cached = "unknown", None, None, None, None
        cache_write = None
        image_prices = {}
    # llmcfg's own image table knows models LiteLLM's does not (openai/dall-e-3 has no entry there).
    tabled_mode = facts.mode if facts is not None and facts.mode else None
    mode = entry.mode or tabled_mode or ("image_generation" if image_model(routed) else "chat")
    vision = entry.vision if entry.vision is not None else bool(facts is not None and facts.supports_vision)
    return AliasInfo(
        alias=alias,
        model=entry.model,
        provider=provider,
        litellm_model=routed,
        mode=mode,
        vision=vision,
        context_window=entry.context_window or (facts.max_input_tokens if facts is not None else None),
        max_output_tokens=facts.max_output_tokens if facts is not None else None,
        input_per_token=input_per_token,
        output_per_token=output_per_token,
        per_image=per_image,
        cached_input_per_token=cached,
        price_source=source,
        reports_cost=routed.partition("/")[0] in COST_REPORTING_PROVIDERS,
        json_schema=bool(facts is not None and facts.supports_response_schema),
        image_prices=image_prices,
        max_tokens=_params_max_tokens(entry.params),
        assume_output_tokens=config.budgets.assume_output_tokens,
        cache_write_per_token=cache_write,
    )


def _own_cache_write(price: Price, input_per_token: float | None, facts: ModelFacts | None) -> float | None:
    """The cache-write rate of an alias with its own ``price:``: its ``cache_write_per_mtok``, else its
    input price scaled as LiteLLM's table scales the model's (Anthropic: 1.25x), else its input price
    (providers such as OpenAI charge nothing extra to write the cache)."""
    if price.cache_write_per_mtok is not None:
        return price.cache_write_per_mtok / 1e6
    if input_per_token is None:
        return None
    if facts is not None and facts.cache_write_per_token is not None and facts.input_per_token:
        return input_per_token * facts.cache_write_per_token / facts.input_per_token
    return input_per_token


def _params_max_tokens(params: Mapping[str, object]) -> int | None:
    value = params.get("max_tokens", params.get("max_completion_tokens"))
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
