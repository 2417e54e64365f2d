"""validate checks model names against LiteLLM's table, alias params against the model, and finds
keys written literally wherever they hide."""

from __future__ import annotations

import textwrap

import pytest

from llmcfg import ConfigError, parse_config
from llmcfg.config.aliases import describe

PROVIDERS = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
  gemini: {api_key: "${GEMINI_API_KEY}"}
  openrouter: {api_key: "${OPENROUTER_API_KEY}"}
  local: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${LOCAL_KEY:-none}"}
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(PROVIDERS + text), "cfg.yaml")
    return [f"{issue.location}: {issue.message}" for issue in caught.value.issues]


def valid(text: str) -> None:
    parse_config(textwrap.dedent(PROVIDERS + text), "cfg.yaml")


def test_a_misspelt_model_is_an_error_with_a_suggestion_from_the_table() -> None:
    (issue,) = issues_of("models:\n  claude: {model: anthropic/claude-sonnet-4-55}\n")
    assert issue.startswith(
        "models.claude.model: 'claude-sonnet-4-55' is not in LiteLLM's table of anthropic models"
    )
    assert "(did you mean 'anthropic/claude-sonnet-4-5'?)" in issue
    (issue,) = issues_of("models:\n  flash: {model: gemini/gemini-2.5-flsh}\n")
    assert "(did you mean 'gemini/gemini-2.5-flash'?)" in issue


def test_a_typo_in_a_vision_preset_is_not_reported_as_a_vision_problem() -> None:
    issues = issues_of(
        "models:\n  claude: {model: anthropic/claude-3-5-sonet}\npresets:\n  vision: {best: claude}\n"
    )
    assert len(issues) == 1
    assert "is not in LiteLLM's table of anthropic models" in issues[0]
    assert "images" not in issues[0]


@pytest.mark.parametrize(
    "alias",
    [
        "{model: openai/gpt-9-preview, price: {input_per_mtok: 1, output_per_mtok: 2}, mode: chat}",
        "{model: openai/gpt-9-preview, price: {input_per_mtok: 1, output_per_mtok: 2}, vision: true}",
        "{model: local/any-name-at-all}",
        "{model: openrouter/some-lab/brand-new-model}",
        "{model: openai/dall-e-3}",
        "{model: anthropic/claude-sonnet-4-5}",
    ],
)
def test_names_that_need_no_table_entry_or_have_one(alias: str) -> None:
    valid(f"models:\n  m: {alias}\n")


def test_a_price_alone_does_not_excuse_an_unknown_name() -> None:
    (issue,) = issues_of(
        "models:\n  m: {model: openai/gpt-9-preview, price: {input_per_mtok: 1, output_per_mtok: 2}}\n"
    )
    assert "declare price and mode (or vision)" in issue


def test_image_models_from_llmcfgs_table_need_no_mode() -> None:
    config = parse_config(
        textwrap.dedent(
            PROVIDERS
            + "models:\n  d3: {model: openai/dall-e-3}\n  d2: {model: openai/dall-e-2}\n"
            + "  gi: {model: openai/gpt-image-1-mini}\npresets:\n  image: {fast: d2, balanced: d3, best: gi}\n"
        ),
        "cfg.yaml",
    )
    assert {describe(config, a).mode for a in ("d2", "d3", "gi")} == {"image_generation"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            "{size: 1792x1024, quality: ultra}",
            "sets quality 'ultra', which its model does not accept; it accepts: standard, hd",
        ),
        ("{size: 512x512}", "sets size '512x512'"),
        ("{style: painterly}", "it accepts: vivid, natural"),
        ("{n: 2}", "its model makes 1 to 1 images per call"),
        ("{response_format: png}", "it accepts: url, b64_json"),
    ],
)
def test_image_defaults_on_the_alias_are_checked_against_the_model(params: str, message: str) -> None:
    (issue,) = issues_of(f"models:\n  d3: {{model: openai/dall-e-3, params: {params}}}\n")
    assert issue.startswith("models.d3.params: alias 'd3'")
    assert message in issue


def test_valid_image_defaults_pass() -> None:
    valid("models:\n  d3: {model: openai/dall-e-3, params: {size: 1792x1024, quality: hd, style: natural}}\n")


def test_a_typo_in_alias_params_has_a_suggestion() -> None:
    (issue,) = issues_of("models:\n  m: {model: openai/gpt-4o-mini, params: {temprature: 0.2}}\n")
    assert issue == "models.m.params.temprature: unknown parameter 'temprature' (did you mean 'temperature'?)"
    valid("models:\n  m: {model: openai/gpt-4o-mini, params: {temperature: 0.2, custom_llm_flag: 1}}\n")


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("models:\n  m: {model: openai/gpt-4o-mini, params: {api_key: sk-abc}}\n", "models.m.params.api_key"),
        (
            "models:\n  m: {model: openrouter/x/y, params: {api_key: abc}}\n",
            "models.m.params.api_key",
        ),
    ],
)
def test_literal_keys_in_params_are_refused(text: str, location: str) -> None:
    issues = issues_of(text)
    assert f"{location}: an API key is never written literally" in "\n".join(issues)


def test_a_literal_key_in_provider_params_is_refused() -> None:
    text = PROVIDERS.replace(
        'gemini: {api_key: "${GEMINI_API_KEY}"}',
        'gemini: {api_key: "${GEMINI_API_KEY}", params: {api_key: k}}',
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text + "models:\n  m: {model: local/x}\n"), "cfg.yaml")
    (issue,) = caught.value.issues
    assert (issue.location, issue.message.split(":")[0]) == (
        "providers.gemini.params.api_key",
        "an API key is never written literally",
    )


def test_a_key_as_the_default_of_a_reference_is_refused_and_plain_defaults_pass() -> None:
    text = PROVIDERS.replace('"${OPENAI_API_KEY}"', '"${OPENAI_API_KEY:-sk-proj-abc123def456}"')
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text + "models:\n  m: {model: openai/gpt-4o-mini}\n"), "cfg.yaml")
    (issue,) = caught.value.issues
    assert issue.location == "providers.openai.api_key"
    assert "never written literally" in issue.message
    assert "sk-proj" not in str(caught.value)
    valid("models:\n  m: {model: local/x}\n")  # ${LOCAL_KEY:-none} is no key


def test_validate_warns_when_cache_prompt_cannot_do_anything() -> None:
    from llmcfg.config.plan import credential_warnings

    config = parse_config(
        textwrap.dedent(
            PROVIDERS
            + '  groq: {api_key: "${GROQ_API_KEY:-x}"}\n'
            + "models:\n"
            + "  claude: {model: anthropic/claude-sonnet-4-5, cache_prompt: true}\n"
            + "  flash: {model: gemini/gemini-2.5-flash, cache_prompt: true}\n"
            + "  house: {model: local/x, cache_prompt: true}\n"
            + "  fast: {model: groq/llama-3.3-70b-versatile, cache_prompt: true}\n"
        ),
        "cfg.yaml",
    )
    flagged = [w for w in credential_warnings(config) if "cache_prompt" in w]
    assert flagged == [
        "models.house.cache_prompt: a server of your own has no prompt caching LiteLLM can ask for; the setting does nothing there",
        "models.fast.cache_prompt: provider kind 'groq' has no prompt caching LiteLLM can ask for; the setting does nothing there",
    ]
