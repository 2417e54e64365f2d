"""Call keyword arguments checked against LiteLLM's list for the provider, before anything is sent."""

from __future__ import annotations

import pytest

import llmcfg
from llmcfg import UnsupportedParameterError
from llmcfg.routing.call_params import check_call_params


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("openai/gpt-4o-mini", {"temperature": 0.2, "max_tokens": 5, "logit_bias": {}, "timeout": 3}),
        ("anthropic/claude-sonnet-4-5", {"temperature": 0.2, "thinking": {"type": "enabled"}}),
        ("anthropic/claude-sonnet-4-5", {"top_k": 5}),  # Anthropic's own: passes through
        ("gemini/gemini-2.5-flash", {"safety_settings": [], "n": 2}),
    ],
)
def test_parameters_the_provider_takes_pass(model: str, params: dict[str, object]) -> None:
    check_call_params("a", model, params)


def test_a_typo_gets_the_right_spelling() -> None:
    with pytest.raises(
        UnsupportedParameterError, match=r"'temprature' for alias 'a' \(did you mean 'temperature'\?\)"
    ):
        check_call_params("a", "openai/gpt-4o-mini", {"temprature": 0.2})


def test_an_openai_parameter_the_provider_does_not_take_is_named() -> None:
    with pytest.raises(UnsupportedParameterError, match="anthropic does not take 'logit_bias'") as caught:
        check_call_params("claude", "anthropic/claude-sonnet-4-5", {"logit_bias": {"1": 2}})
    assert "max_tokens" in str(caught.value)
    assert isinstance(caught.value, TypeError)


def test_response_model_points_at_extract() -> None:
    with pytest.raises(UnsupportedParameterError, match=r"use llm.extract\(prompt, schema=Model\)"):
        check_call_params("a", "openai/gpt-4o-mini", {"response_model": object})


def test_the_error_is_public_and_an_llmcfg_error() -> None:
    assert issubclass(llmcfg.UnsupportedParameterError, llmcfg.LLMCfgError)
