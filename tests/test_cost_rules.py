"""What one call cost and where the figure came from (money/cost.py), rule by rule: the provider's
figure, then the alias's price, then the tables; cached input tokens; image prices by size and
quality, from the alias, llmcfg's list and LiteLLM's table (per image or per pixel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from llmcfg import load_config
from llmcfg.config.aliases import AliasInfo, describe
from llmcfg.money.cost import CallCost, image_cost, token_cost
from llmcfg.money.prices import price_table

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
  openrouter: {api_key: "${OPENROUTER_API_KEY:-k}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY:-k}"}
  azure: {api_key: "${AZURE_API_KEY:-k}", api_base: "https://example.test"}
  fal_ai: {api_key: "${FAL_AI_API_KEY:-k}"}
models:
  table: {model: openai/gpt-4o-mini}
  override: {model: openai/gpt-4o-mini, price: {input_per_mtok: 1.0, output_per_mtok: 7.0, cached_input_per_mtok: 0.3}}
  plain: {model: openai/gpt-4o-mini, price: {input_per_mtok: 2.0, output_per_mtok: 5.0}}
  free-cache: {model: openai/gpt-4o-mini, price: {input_per_mtok: 2.0, output_per_mtok: 5.0, cached_input_per_mtok: 0}}
  free-write: {model: openai/gpt-4o-mini, price: {input_per_mtok: 2.0, output_per_mtok: 5.0, cache_write_per_mtok: 0}}
  claude-own: {model: anthropic/claude-sonnet-4-5, price: {input_per_mtok: 2.0, output_per_mtok: 10.0}}
  reported: {model: openrouter/openai/gpt-4o-mini}
  nobody: {model: openrouter/meta-llama/llama-3.2-11b-vision-instruct, vision: true}
  dalle3: {model: openai/dall-e-3}
  flat: {model: openai/dall-e-3, price: {per_image: 0.05}}
  mapped: {model: openai/dall-e-3, price: {per_image: {"hd/1792x1024": 0.2, "1024x1024": 0.03}}}
  gpt-image-15: {model: openai/gpt-image-1.5}
  azure-dalle3: {model: azure/dall-e-3}
  flux: {model: fal_ai/fal-ai/flux/schnell}
  flux-own: {model: fal_ai/fal-ai/flux/schnell, price: {per_image: {"1024x1024": 0.02}}}
"""
M = 1e-6  # USD per token for 1 USD per million


@pytest.fixture
def info(write_config: Callable[[str], Path]) -> Callable[[str], AliasInfo]:
    config = load_config(write_config(CONFIG))
    return lambda alias: describe(config, alias)


def test_the_providers_figure_wins_even_when_it_is_zero(info: Callable[[str], AliasInfo]) -> None:
    for alias in ("override", "table", "nobody"):
        assert token_cost(info(alias), 1000, 100, provider_usd=0.0, table_usd=0.5) == CallCost(
            0.0, "provider"
        )
    cost = token_cost(info("reported"), 1000, 100, provider_usd=1)
    assert (cost, type(cost.usd)) == (CallCost(1.0, "provider"), float)


def test_a_model_nobody_priced_is_unknown_never_zero(info: Callable[[str], AliasInfo]) -> None:
    assert token_cost(info("nobody"), 1000, 100, table_usd=0.5) == CallCost(None, "unknown")


def test_table_prices_take_litellms_figure_and_an_override_ignores_it(
    info: Callable[[str], AliasInfo],
) -> None:
    cost = token_cost(info("table"), 1000, 100, table_usd=1)
    assert (cost, type(cost.usd)) == (CallCost(1.0, "table"), float)
    assert token_cost(info("override"), 1000, 100, table_usd=0.5) == CallCost(
        pytest.approx(1000 * 1.0 * M + 100 * 7.0 * M), "override"
    )


def test_without_litellms_figure_the_table_rates_price_the_tokens(info: Callable[[str], AliasInfo]) -> None:
    table = info("table")
    assert table.input_per_token is not None
    assert table.output_per_token is not None
    expected = 1000 * table.input_per_token + 100 * table.output_per_token
    for table_usd in (None, 0.0):
        assert token_cost(table, 1000, 100, table_usd=table_usd) == CallCost(pytest.approx(expected), "table")


def test_cached_input_tokens_are_priced_at_the_cached_rate(info: Callable[[str], AliasInfo]) -> None:
    cost = token_cost(info("override"), 1000, 100, cached_in=400)
    assert cost == CallCost(pytest.approx(600 * 1.0 * M + 400 * 0.3 * M + 100 * 7.0 * M), "override")
    # a provider reporting more cached tokens than input: nothing left at the full rate, never negative
    assert token_cost(info("override"), 100, 0, cached_in=150) == CallCost(
        pytest.approx(150 * 0.3 * M), "override"
    )
    assert token_cost(info("override"), 100, 0, cached_in=100) == CallCost(
        pytest.approx(100 * 0.3 * M), "override"
    )


def test_cached_input_without_a_cached_rate_costs_the_input_rate(info: Callable[[str], AliasInfo]) -> None:
    plain = info("plain")
    assert token_cost(plain, 1000, 100, cached_in=400) == CallCost(
        pytest.approx(1000 * 2 * M + 100 * 5 * M), "override"
    )
    bare = replace(plain, cached_input_per_token=None)
    assert token_cost(bare, 1000, 100, cached_in=400) == CallCost(
        pytest.approx(1000 * 2 * M + 100 * 5 * M), "override"
    )


def test_a_free_prompt_cache_costs_nothing(info: Callable[[str], AliasInfo]) -> None:
    """``cached_input_per_mtok: 0`` means cached tokens are free, not "use the input rate"."""
    assert token_cost(info("free-cache"), 1000, 100, cached_in=400) == CallCost(
        pytest.approx(600 * 2 * M + 100 * 5 * M), "override"
    )


def test_a_missing_rate_counts_as_zero(info: Callable[[str], AliasInfo]) -> None:
    only_output = replace(info("plain"), input_per_token=None, cached_input_per_token=None)
    assert token_cost(only_output, 1000, 100, cached_in=400) == CallCost(
        pytest.approx(100 * 5 * M), "override"
    )
    only_input = replace(info("plain"), output_per_token=None)
    assert token_cost(only_input, 1000, 100) == CallCost(pytest.approx(1000 * 2 * M), "override")


# -- images ---------------------------------------------------------------------------------------------
def test_an_image_providers_figure_counts_only_from_a_provider_that_reports_cost(
    info: Callable[[str], AliasInfo],
) -> None:
    reporting = replace(info("flat"), reports_cost=True)
    assert image_cost(reporting, "1024x1024", None, 2, 0.0, 0.9) == CallCost(0.0, "provider")
    assert image_cost(info("flat"), "1024x1024", None, 2, 0.7, 0.9) == CallCost(
        pytest.approx(0.1), "override"
    )


def test_the_aliases_image_price_wins_then_the_usage_litellm_priced(info: Callable[[str], AliasInfo]) -> None:
    assert image_cost(info("flat"), "1792x1024", "hd", 3, None, 0.9) == CallCost(
        pytest.approx(0.15), "override"
    )
    assert image_cost(info("mapped"), "1792x1024", "hd", 3, None, 0.9) == CallCost(
        pytest.approx(0.6), "override"
    )
    # not in the alias's map: the usage LiteLLM priced, else llmcfg's list price
    cost = image_cost(info("mapped"), "1024x1792", "hd", 3, None, 1)
    assert (cost, type(cost.usd)) == (CallCost(1.0, "table"), float)
    assert image_cost(info("mapped"), "1024x1792", "hd", 3, None, 0.0) == CallCost(
        pytest.approx(0.36), "table"
    )
    # the map prices hd at that size, not standard: the list price, not the map's dearest for the size
    assert image_cost(info("mapped"), "1792x1024", "standard", 3, None, None) == CallCost(
        pytest.approx(0.24), "table"
    )
    # a table-priced model with LiteLLM's usage figure: that figure
    assert image_cost(info("dalle3"), "1024x1024", "hd", 3, None, 0.5) == CallCost(0.5, "table")


def test_llmcfgs_list_prices_by_size_and_quality(info: Callable[[str], AliasInfo]) -> None:
    assert image_cost(info("dalle3"), "1024x1792", "hd", 3, None, None) == CallCost(
        pytest.approx(0.36), "table"
    )
    assert image_cost(info("dalle3"), "1024x1792", "standard", 3, None, None) == CallCost(
        pytest.approx(0.24), "table"
    )
    assert image_cost(info("dalle3"), "512x512", "hd", 3, None, None) == CallCost(None, "unknown")


@pytest.mark.parametrize(
    ("quality", "each"),
    [("high", 0.2), ("medium", 0.05), (None, 0.013), ("ultra", 0.013)],  # unknown quality: the size's own key
)
def test_litellms_per_image_prices_by_quality_and_size(
    info: Callable[[str], AliasInfo], quality: str | None, each: float
) -> None:
    cost = image_cost(info("gpt-image-15"), "1024x1536", quality, 3, None, None)
    assert cost == CallCost(pytest.approx(3 * each), "table")


def test_litellms_per_pixel_prices_under_the_providers_prefix(info: Callable[[str], AliasInfo]) -> None:
    per_pixel = price_table()["azure/hd/1024-x-1792/dall-e-3"]["input_cost_per_pixel"]
    cost = image_cost(info("azure-dalle3"), "1024x1792", "hd", 3, None, None)
    assert cost == CallCost(pytest.approx(per_pixel * 1024 * 1792 * 3), "table")


def test_a_flat_per_image_price_in_litellms_table_prices_every_size(
    info: Callable[[str], AliasInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """fal.ai, AIML, Recraft... have one ``output_cost_per_image`` per model, no size keys. The budget
    reserved that price, so settling the call as unknown (and never counting it) let it past budgets."""
    each = price_table()["fal_ai/fal-ai/flux/schnell"]["output_cost_per_image"]
    for size in ("1024x1024", None):
        assert image_cost(info("flux"), size, None, 3, None, None) == CallCost(
            pytest.approx(3 * each), "table"
        )
    assert image_cost(info("flux"), "1024x1024", None, 3, None, 0.5) == CallCost(
        0.5, "table"
    )  # LiteLLM's figure
    monkeypatch.setitem(price_table(), "1024-x-1024/fal-ai/flux/schnell", {"input_cost_per_image": 0.01})
    assert image_cost(info("flux"), "1024x1024", None, 3, None, None) == CallCost(
        pytest.approx(0.03), "table"
    )
    # the alias's own prices replace the table's: a size its map lacks is unknown, not the table's price
    assert image_cost(info("flux-own"), "512x512", None, 3, None, None) == CallCost(None, "unknown")


@pytest.mark.parametrize("size", [None, "auto", "1024-1024"])
def test_no_size_no_table_price(info: Callable[[str], AliasInfo], size: str | None) -> None:
    assert image_cost(info("gpt-image-15"), size, "high", 3, None, None) == CallCost(None, "unknown")


def test_the_standard_key_and_entries_without_a_usable_price(
    info: Callable[[str], AliasInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM's table as it could be in another release: a ``standard/`` key only, a key that is not
    a model entry, an entry with no per-image or per-pixel price (skipped for the next key)."""
    table = price_table()
    monkeypatch.setitem(table, "high/640-x-480/gpt-image-1.5", "not an entry")
    monkeypatch.setitem(table, "openai/high/640-x-480/gpt-image-1.5", {"output_cost_per_image": 9.0})
    monkeypatch.setitem(table, "640-x-480/gpt-image-1.5", {"input_cost_per_pixel": None})
    monkeypatch.setitem(table, "standard/640-x-480/gpt-image-1.5", {"input_cost_per_image": 0.007})
    cost = image_cost(info("gpt-image-15"), "640x480", "high", 3, None, None)
    assert cost == CallCost(pytest.approx(0.021), "table")


def test_a_model_name_with_slashes_keeps_them_after_the_provider(
    info: Callable[[str], AliasInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(price_table(), "azure/hd/1024-x-1024/studio/painter", {"input_cost_per_image": 0.3})
    painter = replace(info("azure-dalle3"), litellm_model="azure/studio/painter")
    assert image_cost(painter, "1024x1024", "hd", 3, None, None) == CallCost(pytest.approx(0.9), "table")


def test_cache_writes_are_priced_at_their_own_rate_and_a_free_one_costs_nothing(
    info: Callable[[str], AliasInfo],
) -> None:
    """Written tokens leave the fresh input (not charged twice) and take the write rate: the alias's
    own (0 is a price, not a missing one), else its input price scaled as the table scales the
    model's (Claude: 1.25x), else its input price (a model whose table has no write rate)."""
    assert token_cost(info("free-write"), 1000, 0, cache_write_in=400) == CallCost(
        pytest.approx(600 * 2.0 * M), "override"
    )
    assert token_cost(info("plain"), 1000, 0, cache_write_in=400) == CallCost(
        pytest.approx(1000 * 2.0 * M), "override"
    )
    entry = price_table()["claude-sonnet-4-5"]
    ratio = entry["cache_creation_input_token_cost"] / entry["input_cost_per_token"]
    assert token_cost(info("claude-own"), 1000, 0, cached_in=100, cache_write_in=400) == CallCost(
        pytest.approx(500 * 2.0 * M + 100 * 2.0 * M + 400 * 2.0 * M * ratio), "override"
    )
