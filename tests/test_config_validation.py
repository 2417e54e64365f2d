"""The whole-config checks (config/validation.py): each problem named at its own place with what to do,
every unpriced alias listed while budgets are set, OCR's own names checked, and the fallback chain
followed through fallbacks of fallbacks without repeats."""

from __future__ import annotations

import textwrap

import pytest

from llmcfg import ConfigError, parse_config
from llmcfg.config.validation import fallback_chain

HEAD = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "cfg.yaml")
    return [f"{issue.location}: {issue.message}" for issue in caught.value.issues]


def test_a_bad_reference_inside_a_list_is_named_with_its_index() -> None:
    issues = issues_of(
        'providers:\n  pool: {kind: openai, api_key: ["${GOOD}", "${BAD"]}\nmodels:\n  m: {model: pool/gpt-4o}\n'
    )
    assert len(issues) == 1
    assert issues[0].startswith("providers.pool.api_key.1: unresolvable reference '${BAD'")


@pytest.mark.parametrize(
    ("provider", "location"),
    [
        ('frobnicate: {api_key: "${K}"}', "providers.frobnicate"),
        ("mine: {kind: frobnicate}", "providers.mine.kind"),
    ],
)
def test_a_provider_litellm_does_not_know_is_named_where_its_kind_comes_from(
    provider: str, location: str
) -> None:
    name = provider.split(":")[0]
    issues = issues_of(f"providers:\n  {provider}\nmodels:\n  m: {{model: {name}/x}}\n")
    assert issues == [
        f"{location}: 'frobnicate' is not a LiteLLM provider; "
        "for an OpenAI-compatible server of your own write kind: openai and api_base"
    ]


def test_an_undeclared_provider_lists_the_declared_ones() -> None:
    issues = issues_of(
        'providers:\n  openai: {api_key: "${K}"}\n  openrouter: {api_key: "${K}"}\nmodels:\n  a: {model: anthropic/claude}\n'
    )
    assert issues == [
        "models.a.model: unknown provider 'anthropic'; declare it under providers (known: openai, openrouter)"
    ]
    assert issues_of("models:\n  a: {model: anthropic/claude}\n") == [
        "models.a.model: unknown provider 'anthropic'; declare it under providers (known: none)"
    ]


def test_an_alias_problem_is_flagged_at_its_own_place() -> None:
    issues = issues_of(
        HEAD.replace("{model: openai/gpt-4o}", "{model: openai/gpt-4o, params: {api_key: sk-abc}}")
    )
    assert len(issues) == 1
    assert issues[0].startswith("models.gpt4o.params.api_key: ")
    assert "sk-abc" not in issues[0]


def test_an_unknown_alias_with_fallbacks_is_named() -> None:
    assert issues_of(HEAD + "fallbacks:\n  gpt5: [mini]\n") == ["fallbacks.gpt5: unknown alias 'gpt5'"]
    assert issues_of(HEAD + "fallbacks_on_context:\n  mini: [gpt4o, nano]\n") == [
        "fallbacks_on_context.mini.1: unknown alias 'nano'"
    ]


MODES = """
ocr:
  modes:
    base: {max_side: 1024, prompt: read}
    large: {max_side: 1280, prompt: read}
"""


def test_an_unknown_default_ocr_mode_is_named_with_the_closest() -> None:
    assert issues_of(HEAD + MODES + "  default_mode: bse\n") == [
        "ocr.default_mode: unknown mode 'bse' (did you mean 'base'?)"
    ]
    parse_config(textwrap.dedent(HEAD + MODES + "  default_mode: large\n"), "cfg.yaml")
    parse_config(textwrap.dedent(HEAD + "ocr: {default_mode: anything}\n"), "cfg.yaml")  # no modes: built-ins


def test_ocr_fallbacks_and_presets_must_be_known_aliases() -> None:
    assert issues_of(HEAD + "ocr:\n  fallback: [mini, gpt4]\n") == [
        "ocr.fallback.1: unknown alias 'gpt4' (did you mean 'gpt4o'?)"
    ]
    assert issues_of(HEAD + "ocr:\n  presets: {fast: mini, best: gpt4}\n") == [
        "ocr.presets.best: unknown alias 'gpt4' (did you mean 'gpt4o'?)"
    ]


def test_an_ocr_fallback_must_read_images_by_vision_or_ocr_mode() -> None:
    assert issues_of(HEAD + "  text: {model: openai/gpt-3.5-turbo}\nocr:\n  fallback: [text]\n") == [
        "ocr.fallback.0: alias 'text' cannot read images: OCR fallbacks need vision or mode: ocr"
    ]
    for alias in (
        "{model: openai/gpt-3.5-turbo, mode: ocr}",
        "{model: openai/gpt-3.5-turbo, vision: true}",
    ):
        parse_config(textwrap.dedent(HEAD + f"  reader: {alias}\nocr:\n  fallback: [reader]\n"), "cfg.yaml")


def test_a_fallback_of_another_mode_is_named_at_the_fallbacks_entry() -> None:
    issues = issues_of(
        HEAD + "  dalle: {model: openai/dall-e-3, mode: image_generation}\nfallbacks:\n  mini: [dalle]\n"
    )
    assert issues == [
        "fallbacks.mini: fallback 'dalle' has mode image_generation but 'mini' has mode chat: it cannot stand in for it"
    ]


UNPRICED = """
providers:
  local: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${LOCAL_KEY:-none}"}
models:
  house: {model: local/mine, price: {input_per_mtok: 1, output_per_mtok: 2}}
  odd: {model: local/not-in-any-table}
  odd-images: {model: local/not-an-image-model, mode: image_generation}
"""


def test_every_unpriced_alias_is_listed_while_budgets_are_set() -> None:
    issues = issues_of(UNPRICED + "budgets: {daily_usd: 5}\n")
    assert issues == [
        "models.odd: alias 'odd' (openai/not-in-any-table) has no known price, so budgets cannot cap it: add "
        "`price: {input_per_mtok: 0.5, output_per_mtok: 1.5}` (USD) to the alias, or set `budgets.unpriced: allow` "
        "to send it uncapped and record its calls as cost unknown",
        "models.odd-images: alias 'odd-images' (openai/not-an-image-model) has no known price, so budgets cannot "
        "cap it: add `price: {per_image: 0.04}` (USD) to the alias, or set `budgets.unpriced: allow` to send it "
        "uncapped and record its calls as cost unknown",
    ]


def test_unpriced_aliases_pass_without_budgets_or_when_allowed() -> None:
    parse_config(textwrap.dedent(UNPRICED), "cfg.yaml")
    parse_config(textwrap.dedent(UNPRICED + "budgets: {daily_usd: 5, unpriced: allow}\n"), "cfg.yaml")
    priced = UNPRICED.split("  odd:")[0]
    parse_config(textwrap.dedent(priced + "budgets: {daily_usd: 5}\n"), "cfg.yaml")


def test_the_fallback_chain_follows_fallbacks_of_fallbacks_once_each() -> None:
    text = (
        HEAD
        + "  a: {model: openai/gpt-4o-mini}\n  b: {model: openai/gpt-4o-mini}\n"
        + "  c: {model: openai/gpt-4o-mini}\n  d: {model: openai/gpt-4o-mini}\n"
        + "fallbacks:\n  a: [b, c]\n  b: [c, d]\n  c: [mini]\n"
    )
    config = parse_config(textwrap.dedent(text), "cfg.yaml")
    assert fallback_chain(config, "a") == ["b", "c", "d", "mini"]
    assert fallback_chain(config, "b") == ["c", "d", "mini"]
    assert fallback_chain(config, "d") == []


def test_a_cycle_is_reported_once_at_the_alias_it_starts_from() -> None:
    assert issues_of(HEAD + "fallbacks:\n  mini: [gpt4o]\n  gpt4o: [mini]\n") == [
        "fallbacks.mini: fallback cycle: mini -> gpt4o -> mini"
    ]


def test_a_budget_for_an_unknown_alias_is_named() -> None:
    assert issues_of(HEAD + "budgets:\n  per_alias:\n    gpt4: {daily_usd: 1}\n") == [
        "budgets.per_alias.gpt4: unknown alias 'gpt4' (did you mean 'gpt4o'?)"
    ]
