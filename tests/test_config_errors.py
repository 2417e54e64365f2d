"""Every way a config can be wrong gets a ConfigError naming the place and what to do."""

from __future__ import annotations

import textwrap

import pytest

from llmcfg import ConfigError, load_config, parse_config

HEAD = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "cfg.yaml")
    return caught.value


def test_shipped_example_is_valid() -> None:
    config = load_config("llm_config.yaml")
    assert {"mini", "gpt4o", "llama-vision"} <= set(config.models)
    assert config.presets.vision is not None
    assert config.presets.vision.best == "gpt4o"


def test_yaml_syntax_error_has_file_line_and_column() -> None:
    error = error_of("models:\n  mini: {model: openai/x\n")
    assert str(error).startswith("cfg.yaml:3:1: YAML syntax error")


def test_schema_error_names_the_dotted_path_and_expectation() -> None:
    error = error_of(HEAD + "router: {num_retries: many}\n")
    issue = error.issues[0]
    assert issue.location == "router.num_retries"
    assert issue.line == 7
    assert "integer" in issue.message


def test_unknown_key_is_an_error_with_suggestion_for_camel_case() -> None:
    error = error_of('providers:\n  openai: {apiKey: "${K}"}\n')
    assert "providers.openai.apiKey: unknown key 'apiKey' (did you mean 'api_key'?)" in str(error)


def test_misspelt_top_level_key_is_named() -> None:
    error = error_of(HEAD + "fallback:\n  gpt4o: [mini]\n")
    assert "unknown key 'fallback' (did you mean 'fallbacks'?)" in str(error)


def test_unknown_alias_in_preset_suggests_the_closest() -> None:
    error = error_of(HEAD + "presets:\n  vision: {best: gpt4}\n")
    assert "presets.vision.best: unknown alias 'gpt4' (did you mean 'gpt4o'?)" in str(error)
    assert error.issues[0].line == 8


def test_unknown_alias_in_fallbacks() -> None:
    error = error_of(HEAD + "fallbacks:\n  gpt4o: [mnii]\n")
    assert "fallbacks.gpt4o.0: unknown alias 'mnii' (did you mean 'mini'?)" in str(error)


def test_quality_other_than_fast_balanced_best() -> None:
    error = error_of(HEAD + "presets:\n  text: {ultra: mini}\n")
    assert "presets.text.ultra: unknown key 'ultra'" in str(error)
    assert "fast, balanced, best" in str(error)


def test_fallback_cycle() -> None:
    error = error_of(HEAD + "fallbacks:\n  gpt4o: [mini]\n  mini: [gpt4o]\n")
    assert "fallback cycle: gpt4o -> mini -> gpt4o" in str(error)


def test_unknown_provider_prefix() -> None:
    error = error_of(HEAD + "  other: {model: opnai/gpt-4o}\n")
    assert "models.other.model: unknown provider 'opnai' (did you mean 'openai'?)" in str(error)


def test_provider_that_litellm_does_not_know_needs_a_kind() -> None:
    error = error_of('providers:\n  myserver: {api_base: "http://127.0.0.1:1/v1"}\n')
    assert "'myserver' is not a LiteLLM provider" in str(error)
    parse_config('providers:\n  myserver: {kind: openai, api_base: "http://127.0.0.1:1/v1"}\n')


def test_model_without_provider_prefix() -> None:
    error = error_of(HEAD + "  bare: {model: gpt-4o}\n")
    assert "models.bare.model" in str(error)
    assert "'<provider>/<model>'" in str(error)


def test_text_only_fallback_behind_a_vision_preset_is_refused() -> None:
    text = (
        HEAD
        + "  turbo: {model: openai/gpt-3.5-turbo}\npresets:\n  vision: {best: gpt4o}\nfallbacks:\n  gpt4o: [turbo]\n"
    )
    error = error_of(text)
    assert "fallback 'turbo' (behind 'gpt4o') does not accept images" in str(error)
    assert error.issues[0].location == "fallbacks.gpt4o"


def test_non_vision_alias_as_vision_preset_is_refused() -> None:
    error = error_of(HEAD + "  turbo: {model: openai/gpt-3.5-turbo}\npresets:\n  vision: {fast: turbo}\n")
    assert "presets.vision.fast: alias 'turbo' does not accept images" in str(error)


def test_chat_model_behind_an_image_alias_is_refused() -> None:
    text = HEAD + "  dalle3: {model: openai/dall-e-3, mode: image_generation}\nfallbacks:\n  dalle3: [mini]\n"
    error = error_of(text)
    assert "fallback 'mini' has mode chat but 'dalle3' has mode image_generation" in str(error)


def test_chat_alias_as_image_preset_is_refused() -> None:
    error = error_of(HEAD + "presets:\n  image: {best: mini}\n")
    assert (
        "presets.image.best: alias 'mini' has mode chat but image presets need mode image_generation"
        in str(error)
    )


def test_duplicate_alias_is_an_error_with_both_lines() -> None:
    error = error_of(HEAD + "  mini: {model: openai/gpt-4o}\n")
    assert "duplicate key 'mini' (first defined on line 5)" in str(error)
    assert error.issues[0].line == 7


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${OPENAI_API_KEY", "unresolvable reference"),
        ("${1BAD}", "unresolvable reference"),
        ("os.environ/BAD-NAME", "not a valid os.environ/NAME reference"),
    ],
)
def test_unresolvable_reference_syntax(value: str, expected: str) -> None:
    error = error_of(f'providers:\n  openai: {{api_key: "{value}"}}\n')
    assert expected in str(error)
    assert error.issues[0].location == "providers.openai.api_key"


def test_literal_key_is_refused_and_never_echoed() -> None:
    error = error_of('providers:\n  openai: {api_key: "sk-live-abcdef123456"}\n')
    assert "never written literally" in str(error)
    assert "sk-live" not in str(error)


def test_several_problems_are_reported_together() -> None:
    error = error_of(HEAD + "presets:\n  text: {best: gpt5}\nfallbacks:\n  mini: [nope]\n")
    assert len(error.issues) == 2


def test_missing_file_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_config_is_frozen() -> None:
    config = parse_config(textwrap.dedent(HEAD))
    with pytest.raises(ValueError, match="frozen"):
        config.models["mini"].model = "openai/gpt-4o"  # type: ignore[misc]


# -- the slips a new user makes (issue 17) ---------------------------------------------------------


def test_a_tab_gets_a_hint_with_the_line() -> None:
    error = error_of("providers:\n  openai: {}\nmodels:\n\tmini: {model: openai/gpt-4o-mini}\n")
    assert str(error).startswith("cfg.yaml:4:")
    assert "tabs are not allowed in YAML, use spaces; check the indentation of line 4" in str(error)


def test_wrong_indentation_gets_a_hint_with_the_line() -> None:
    error = error_of("providers:\n  openai: {}\nmodels:\n  mini:\n    model: openai/x\n   vision: true\n")
    assert str(error).startswith("cfg.yaml:6:")
    assert "check the indentation of line 6" in str(error)
    assert "tabs" not in str(error)


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "{}\n", "---\n"])
def test_an_empty_config_is_an_error(text: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "llm_config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"the config is empty: see docs/config\.md"):
        load_config(path)


def test_shell_style_key_reference_suggests_the_braced_form() -> None:
    error = error_of("providers:\n  openai: {api_key: $OPENAI_API_KEY}\n")
    assert (
        "providers.openai.api_key: $OPENAI_API_KEY is not expanded (shell style): write ${OPENAI_API_KEY}"
        in str(error)
    )
    assert error.issues[0].line == 2


def test_alias_shorthand_says_what_to_write() -> None:
    error = error_of("providers:\n  openai: {}\nmodels:\n  mini: openai/gpt-4o-mini\n")
    assert "models.mini: an alias is a mapping: write `mini: {model: openai/gpt-4o-mini}`" in str(error)
    assert "instance of" not in str(error)
    assert error.issues[0].line == 4


def test_a_scalar_provider_is_refused_without_echoing_it() -> None:
    error = error_of('providers:\n  openai: "sk-live-abcdef123456"\n')
    assert "providers.openai: expected a mapping of settings here" in str(error)
    assert "sk-live" not in str(error)


def test_no_suggestion_below_the_similarity_threshold() -> None:
    error = error_of("providers:\n  acme: {api_base: 'http://127.0.0.1:9/v1'}\n")
    assert "'acme' is not a LiteLLM provider;" in str(error)
    assert "did you mean" not in str(error)
    for typo, meant in (("opnai", "openai"), ("anthropc", "anthropic"), ("gemni", "gemini")):
        error = error_of(f"providers:\n  {typo}: {{}}\n")
        assert f"(did you mean {meant!r}?)" in str(error)


def test_allow_private_networks_must_be_networks() -> None:
    error = error_of(HEAD + "fetch:\n  allow_private_networks: ['10.0.0.0/8', intranet]\n")
    assert "fetch.allow_private_networks.1: 'intranet' is not a network" in str(error)
    assert str(error).startswith("cfg.yaml:8:")
    config = parse_config(textwrap.dedent(HEAD + "fetch:\n  allow_private_networks: ['10.0.0.1/8', '::1']\n"))
    assert config.fetch.allow_private_networks == ["10.0.0.1/8", "::1"]


def test_a_swapped_pair_suggests_the_key_it_scrambles_not_a_shorter_one() -> None:
    """'modle' is one edit from both 'model' (a swap) and 'mode' (a stray letter): the newcomer who
    typed it meant model, the key the same error says is missing."""
    error = error_of(HEAD.replace("gpt4o: {model:", "gpt4o: {modle:"))
    assert "models.gpt4o.model: required key is missing" in str(error)
    assert "models.gpt4o.modle: unknown key 'modle' (did you mean 'model'?)" in str(error)
    error = error_of(HEAD.replace("{model: openai/gpt-4o}", "{model: openai/gpt-4o, mdoe: chat}"))
    assert "models.gpt4o.mdoe: unknown key 'mdoe' (did you mean 'mode'?)" in str(error)


@pytest.mark.parametrize(
    ("tail", "opened"),
    [
        ("  broken: {model: openai/gpt-4o-mini\n", "a flow mapping that starts at line 7, column 11"),
        ("fallbacks:\n  gpt4o: [mini\n", "a flow sequence that starts at line 8, column 10"),
    ],
)
def test_an_unclosed_bracket_names_the_line_where_it_opens(tail: str, opened: str) -> None:
    """YAML finds the missing '}' or ']' where the file ends; the line to fix is where it opened."""
    error = error_of(HEAD + tail)
    assert str(error).startswith(
        f"cfg.yaml:{HEAD.count(chr(10)) + tail.count(chr(10)) + 1}:1: YAML syntax error"
    )
    assert str(error).endswith(f"; while parsing {opened}")


def test_validate_warns_about_every_unset_variable_of_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``api_base`` or a parameter from an unset variable fails the first call like a missing
    key does (CredentialError), so ``validate`` warns about it as it does about the key."""
    from llmcfg.config.plan import credential_warnings

    for name in ("LOCAL_URL", "LOCAL_VERSION", "LOCAL_KEY"):
        monkeypatch.delenv(name, raising=False)
    text = """
    providers:
      local: {kind: openai, api_base: "${LOCAL_URL}", api_key: "${LOCAL_KEY:-none}",
              params: {api_version: "${LOCAL_VERSION}", timeout: 5}}
      spare: {kind: openai, api_base: "${LOCAL_URL}"}
    models:
      m: {model: local/foo}
    """
    assert credential_warnings(parse_config(textwrap.dedent(text))) == [
        "providers.local.api_base: LOCAL_URL not set; aliases m will fail until it is",
        "providers.local.params.api_version: LOCAL_VERSION not set; aliases m will fail until it is",
    ]  # 'spare' serves no alias: nothing to warn about
    monkeypatch.setenv("LOCAL_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LOCAL_VERSION", "1")
    assert credential_warnings(parse_config(textwrap.dedent(text))) == []
