"""LiteLLM's shipped price and capability table, read without importing litellm.

``import litellm`` costs seconds and may touch the network; ``validate`` and ``plan`` only need the
JSON file inside the package, which ``importlib.util.find_spec`` locates without running it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "BUILTIN_MODELS",
    "IMAGE_LIST_PRICES",
    "ModelFacts",
    "image_price",
    "known_providers",
    "lookup",
    "upper_tier",
]

_PRICE_FILE = "model_prices_and_context_window_backup.json"
_PROVIDER_FILE = "provider_endpoints_support_backup.json"


@dataclass(frozen=True)
class ModelFacts:
    """What LiteLLM's table says about one model. Prices are USD per token (or per image)."""

    key: str
    mode: str | None
    input_per_token: float | None
    output_per_token: float | None
    per_image: float | None
    cached_input_per_token: float | None
    cache_write_per_token: float | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    supports_vision: bool
    supports_response_schema: bool = False
    image_prices: Mapping[str, float] = field(default_factory=dict)  # "quality/size" or "size" -> USD

    @property
    def priced(self) -> bool:
        return self.input_per_token is not None or self.per_image is not None


def _litellm_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _load(name: str) -> dict[str, Any]:
    folder = _litellm_dir()
    if folder is None or not (folder / name).is_file():
        return {}
    data: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return data


def price_table() -> dict[str, Any]:
    return _load(_PRICE_FILE)


@cache
def known_providers() -> frozenset[str]:
    """Provider names LiteLLM routes (``openai``, ``openrouter``, ...)."""
    providers = _load(_PROVIDER_FILE).get("providers", {})
    listed = {str(name) for name in providers}
    tabled = {str(v.get("litellm_provider")) for v in price_table().values() if isinstance(v, dict)}
    return frozenset(listed | tabled | {"openai", "openrouter", "custom_openai"})


def _facts(key: str, entry: dict[str, Any]) -> ModelFacts:
    def number(name: str) -> float | None:
        value = entry.get(name)
        return float(value) if isinstance(value, (int, float)) else None

    def integer(name: str) -> int | None:
        value = entry.get(name)
        return int(value) if isinstance(value, (int, float)) else None

    return ModelFacts(
        key=key,
        mode=entry.get("mode"),
        input_per_token=number("input_cost_per_token"),
        output_per_token=number("output_cost_per_token"),
        per_image=number("output_cost_per_image") or number("input_cost_per_image"),
        cached_input_per_token=number("cache_read_input_token_cost"),
        cache_write_per_token=number("cache_creation_input_token_cost"),
        max_input_tokens=integer("max_input_tokens"),
        max_output_tokens=integer("max_output_tokens"),
        supports_vision=bool(entry.get("supports_vision")),
        supports_response_schema=bool(entry.get("supports_response_schema")),
    )


# Models llmcfg itself serves (the offline OCR engine): free, local, OCR only.
BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "rapidocr/ppocr": {
        "mode": "ocr",
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "supports_vision": True,
        "litellm_provider": "rapidocr",
    },
}


# OpenAI's list prices per image, by quality and size: LiteLLM 1.110 has no ``dall-e-3`` key for
# OpenAI at all (only azure/ and aiml/), and a flat per-image price is wrong for every size but one.
IMAGE_LIST_PRICES: dict[str, dict[str, float]] = {
    "openai/dall-e-3": {
        "standard/1024x1024": 0.04,
        "standard/1024x1792": 0.08,
        "standard/1792x1024": 0.08,
        "hd/1024x1024": 0.08,
        "hd/1024x1792": 0.12,
        "hd/1792x1024": 0.12,
    },
    "openai/dall-e-2": {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.02},
}


def image_price(prices: Mapping[str, float], size: str | None, quality: str | None) -> float | None:
    """The price of one image from a map keyed by ``quality/size`` or ``size``; None when the map
    does not cover this size and quality. Without a quality, the dearest one for that size counts."""
    if quality and size and f"{quality}/{size}" in prices:
        return prices[f"{quality}/{size}"]
    if size and size in prices:
        return prices[size]
    if quality is None and size:
        sized = [usd for key, usd in prices.items() if key.endswith(f"/{size}")]
        return max(sized) if sized else None
    return None


def lookup(litellm_model: str) -> ModelFacts | None:
    """Facts for ``provider/model`` as LiteLLM spells it; tried with and without the provider prefix."""
    if litellm_model in BUILTIN_MODELS:
        return _facts(litellm_model, BUILTIN_MODELS[litellm_model])
    if litellm_model in IMAGE_LIST_PRICES:
        prices = IMAGE_LIST_PRICES[litellm_model]
        facts = _facts(
            litellm_model, {"mode": "image_generation", "output_cost_per_image": max(prices.values())}
        )
        return replace(facts, image_prices=prices)
    table = price_table()
    provider, _, bare = litellm_model.partition("/")
    for key in (litellm_model, bare):
        entry = table.get(key)
        if isinstance(entry, dict) and (key == litellm_model or entry.get("litellm_provider") == provider):
            return _facts(key, entry)
    return None


_TIER = re.compile(r"input_cost_per_token_above_(\d+)k_tokens")


@cache
def _tiers(litellm_model: str, service_tier: str) -> tuple[tuple[int, float, float, float], ...]:
    """(threshold, input, output, cache write rate) of each price tier of a model, highest first,
    down to the base tier (threshold 0); with a ``service_tier`` (``priority``), its own rates where
    the table has them. Each rate is never below the base one."""
    facts = lookup(litellm_model)
    entry = price_table().get(facts.key) if facts is not None else None
    if not isinstance(entry, dict):
        return ()
    suffix = f"_{service_tier}" if service_tier else ""

    def rate(name: str, above: str) -> float:
        names = [name, name + suffix, *([f"{name}_{above}", f"{name}_{above}{suffix}"] if above else [])]
        values = [entry.get(key) for key in names]
        return max((float(v) for v in values if isinstance(v, (int, float))), default=0.0)

    thresholds = {0: ""}
    for match in filter(None, map(_TIER.fullmatch, entry)):
        thresholds[int(match.group(1)) * 1000] = f"above_{match.group(1)}k_tokens"
    tiers = [
        (
            threshold,
            rate("input_cost_per_token", above),
            rate("output_cost_per_token", above),
            rate("cache_creation_input_token_cost", above),
        )
        for threshold, above in thresholds.items()
    ]
    return tuple(sorted(tiers, reverse=True))


def upper_tier(
    litellm_model: str, tokens_in: int, service_tier: str = ""
) -> tuple[float, float, float] | None:
    """The (input, output, cache write) rates of the price tier a prompt of ``tokens_in`` tokens
    reaches (gemini-2.5-pro: twice the input rate above 200k tokens), at ``service_tier`` when given
    (OpenAI's ``priority``: about 1.7 times the base rates); None for a model the table lacks. A tier
    prices the whole call, so a worst case taken at the base rates could be half of it."""
    for threshold, *rates in _tiers(litellm_model, service_tier):
        if tokens_in > threshold or threshold == 0:
            return rates[0], rates[1], rates[2]
    return None
