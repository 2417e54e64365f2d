"""An alias that cannot run now (no key) gives way to the first usable alias of its fallback chain,
for every kind of call; the result and the event say what was skipped and why."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, CredentialError, load_config
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
version: 1
providers:
  openrouter: {api_key: "${OPENROUTER_API_KEY}"}
  openai: {api_key: "${OPENAI_API_KEY}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
models:
  router-mini: {model: openrouter/openai/gpt-4o-mini, vision: true}
  claude: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 100}}
  mini: {model: openai/gpt-4o-mini}
  embed-router: {model: openrouter/openai/text-embedding-3-small, mode: embedding}
  embed: {model: openai/text-embedding-3-small}
fallbacks:
  router-mini: [claude, mini]
  embed-router: [embed]
router: {num_retries: 0, cooldown_s: 0}
"""


@pytest.fixture
def llm(tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> LLM:
    """ "Use OpenRouter if its key is set, else Claude, else OpenAI": only OPENAI_API_KEY is set."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0001")
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return LLM(use_fake(load_config(path), fake, keep_keys=True))


def test_chat_goes_to_the_first_alias_whose_key_is_set(
    llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    result = llm.chat("hi", model="router-mini")
    assert result.alias == "mini"
    assert result.skipped == {
        "router-mini": "OPENROUTER_API_KEY not set",
        "claude": "ANTHROPIC_API_KEY not set",
    }
    assert [r.model for r in fake.requests] == ["gpt-4o-mini"]
    assert fake.requests[-1].api_key == "sk-test-openai-0001"
    (event,) = [e for e in events if e.get("event") == "llm.call"]
    assert event["skipped"] == result.skipped
    assert event["alias"] == "mini"


@pytest.mark.parametrize("kind", ["stream", "vision", "embed", "extract"])
def test_every_kind_takes_the_next_option(llm: LLM, fake: FakeProvider, kind: str) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        word: str

    fake.reply('{"word": "hi"}')
    if kind == "stream":
        stream = llm.stream("hi", model="router-mini")
        assert "".join(stream) == '{"word": "hi"}'
        result: Any = stream.result
    elif kind == "vision":
        from tests.images import png

        result = llm.vision(png(), "what?", model="router-mini")
    elif kind == "embed":
        result = llm.embed("hi", model="embed-router")
    else:
        result = llm.extract_result("hi", Answer, model="router-mini")
        assert result.value == Answer(word="hi")
    assert result.alias in ("mini", "embed")
    assert "router-mini" in result.skipped or "embed-router" in result.skipped
    assert {r.provider for r in fake.requests} == {"openai"}


def test_with_no_usable_option_the_error_names_every_variable(
    llm: LLM, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CredentialError) as caught:
        llm.chat("hi", model="router-mini")
    message = str(caught.value)
    for variable in ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        assert variable in message
    assert caught.value.variables == ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")
    assert fake.requests == []


def test_an_alias_without_fallbacks_still_names_its_one_variable(
    llm: LLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CredentialError, match="environment variable OPENAI_API_KEY is not set; alias 'mini'"):
        llm.chat("hi", model="mini")
