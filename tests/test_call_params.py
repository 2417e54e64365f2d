"""Call keyword arguments checked against LiteLLM's list for the provider, before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmcfg
from llmcfg import LLM, UnsupportedParameterError, load_config
from llmcfg.routing.call_params import check_call_params
from llmcfg.testing import FakeProvider, use_fake


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


CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
models:
  mini: {model: openai/gpt-4o-mini}
  claude: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 100}}
router: {num_retries: 0}
"""


@pytest.fixture
def llm(tmp_path: Path, fake: FakeProvider) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG)
    return LLM(use_fake(load_config(path), fake))


def test_a_typo_in_a_call_fails_before_anything_is_sent(
    llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    with pytest.raises(UnsupportedParameterError, match="did you mean 'temperature'"):
        llm.chat("hi", model="mini", temprature=0.2)
    with pytest.raises(UnsupportedParameterError, match="did you mean 'max_tokens'"):
        llm.stream("hi", model="mini", max_token=5)  # at the call, not at the first iteration
    assert fake.requests == []
    assert [e["error"] for e in events if e.get("event") == "llm.call"] == ["UnsupportedParameterError"] * 2


def test_response_model_on_chat_names_extract_at_once(llm: LLM, fake: FakeProvider) -> None:
    class City(BaseModel):
        name: str

    with pytest.raises(UnsupportedParameterError, match=r"llm\.extract"):
        llm.chat("Capital of France?", model="mini", response_model=City)
    assert fake.requests == []


def test_cache_prompt_per_call_marks_the_system_prompt_or_the_last_messages(
    llm: LLM, fake: FakeProvider
) -> None:
    llm.chat("hi", model="claude", system="Long instructions.", cache_prompt=True)
    system = fake.requests[-1].body["system"]
    assert system[-1]["cache_control"] == {"type": "ephemeral"}
    history = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    llm.chat(messages=history, model="claude", cache_prompt=2)
    marked = [
        any("cache_control" in part for part in m["content"]) if isinstance(m["content"], list) else False
        for m in fake.requests[-1].body["messages"]
    ]
    assert marked == [False, True, True]
    llm.chat("hi", model="mini", system="x", cache_prompt=True)  # OpenAI caches by itself: no marker
    assert "cache_control" not in json.dumps(fake.requests[-1].body)


CITY_SCHEMA = {
    "title": "City",
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
}


def test_extract_takes_a_json_schema_dict_and_returns_a_validated_dict(llm: LLM, fake: FakeProvider) -> None:
    fake.reply('{"name": "Paris", "population": "many"}', times=1)  # wrong type: asked again
    fake.reply('{"name": "Paris", "population": 2100000}')
    result = llm.extract_result("Biggest French city?", CITY_SCHEMA, model="mini")
    assert result.value == {"name": "Paris", "population": 2100000}
    assert result.attempts == 2
    first = fake.requests[0].body["response_format"]
    assert first["json_schema"]["name"] == "City"
    assert first["json_schema"]["schema"] == CITY_SCHEMA
    retry = fake.requests[1].body["messages"][-1]["content"]
    assert "population: 'many' is not of type 'integer'" in retry
    assert llm.extract("Biggest French city?", CITY_SCHEMA, model="claude") == {
        "name": "Paris",
        "population": 2100000,
    }


def test_a_broken_json_schema_fails_before_any_request(llm: LLM, fake: FakeProvider) -> None:
    with pytest.raises(TypeError, match="not a valid JSON Schema"):
        llm.extract("x", {"type": "objekt"}, model="mini")
    assert fake.requests == []


def test_openai_compatible_providers_get_every_openai_parameter() -> None:
    """Which OpenAI parameters a model takes varies by model (reasoning_effort); only typos fail."""
    check_call_params("a", "openai/gpt-4o", {"reasoning_effort": "low"})
    check_call_params("a", "openrouter/openai/gpt-4o", {"reasoning_effort": "low"})
