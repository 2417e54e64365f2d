"""Keys llmcfg was never given are still never printed: a provider's error body may echo any key
(another provider's, one pasted in a prompt, one in a URL). Each shape the scrubber knows is checked
on its own, through a real failing call, in every place the failure is written: the exception and its
chain as a traceback prints them, the ``llm.call`` event and the cost-log line. One shape dropped from
the pattern (or a quantifier that no longer matches a real key) fails exactly its case here;
tests/test_error_chain.py covers the configured key and the ``sk-`` shape through every call kind."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from llmcfg import LLM, AuthenticationError, load_config
from llmcfg.testing import FakeProvider

# (what the body says, the secret part that must not be printed): real-looking keys of each shape
SHAPES = {
    "google": (
        "key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv was rejected",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
    ),
    "groq": ("key gsk_0123456789abcdefABCDEF was rejected", "gsk_0123456789abcdefABCDEF"),
    "xai": ("key xai-0123456789abcdefABCDEF was rejected", "xai-0123456789abcdefABCDEF"),
    "hugging face": ("token hf_0123456789abcdefABCDEF was rejected", "hf_0123456789abcdefABCDEF"),
    "aws": ("access key AKIAIOSFODNN7EXAMPLE is not valid", "AKIAIOSFODNN7EXAMPLE"),
    "anthropic": ("key sk-ant-api03-Ab0123456789 was rejected", "sk-ant-api03-Ab0123456789"),
    "bearer": ("header Authorization: Bearer tok.123-opaque/xyz was rejected", "tok.123-opaque/xyz"),
    "api-key header": ("x-api-key: opaque0123secret was rejected", "opaque0123secret"),
    "api_key field": ('{"api_key": "opaque4567secret"} was rejected', "opaque4567secret"),
    "key in a URL": ("GET https://host/v1/models?alt=json&key=opaque8910secret failed", "opaque8910secret"),
}


@pytest.fixture
def llm(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LLM:
    monkeypatch.setenv("LOCAL_KEY", "configured-key")
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        f"providers:\n  local: {{kind: openai, api_base: '{fake.base_url}', api_key: '${{LOCAL_KEY}}'}}\n"
        "models:\n  m: {model: local/my-model, price: {input_per_mtok: 1, output_per_mtok: 1}}\n"
        "router: {num_retries: 0}\n"
        "logging: {cost_log: costs.jsonl}\n"
    )
    return LLM(load_config(path))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_key_of_any_known_shape_in_an_error_body_is_printed_nowhere(
    shape: str, llm: LLM, fake: FakeProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body, secret = SHAPES[shape]
    fake.fail(401, message=f"Incorrect API key provided: {body}", code="invalid_api_key")
    caplog.set_level(logging.INFO, logger="llmcfg.events")
    with pytest.raises(AuthenticationError) as caught:
        llm.chat("hi", model="m")
    printed = "".join(traceback.format_exception(caught.value))
    [event] = [record for record in caplog.records if record.name == "llmcfg.events"]
    line = (tmp_path / "costs.jsonl").read_text()
    assert "[redacted]" in printed  # the scrubber ran on this text ...
    assert "Incorrect API key provided" in printed  # ... and kept what the provider said
    for where, text in (("traceback", printed), ("event", event.getMessage()), ("cost log", line)):
        assert secret not in text, f"{shape} key printed in the {where}"
    assert '"error_message"' in line  # the event carries the provider's message ...
    assert "[redacted]" in line  # ... scrubbed


def test_ordinary_words_are_not_redacted(llm: LLM, fake: FakeProvider) -> None:
    """The shapes are specific: a message without a key keeps its words (a scrubber that redacts
    everything would pass the cases above)."""
    message = "The model skipped the task: ask-for-keys is not a valid tool; see the monkey docs"
    fake.fail(401, message=message, code="invalid_api_key")
    with pytest.raises(AuthenticationError) as caught:
        llm.chat("hi", model="m")
    assert message in str(caught.value)
    assert "[redacted]" not in "".join(traceback.format_exception(caught.value))


def test_a_key_is_replaced_by_the_word_redacted_and_nothing_else(llm: LLM, fake: FakeProvider) -> None:
    body, _ = SHAPES["groq"]
    fake.fail(401, message=f"Incorrect API key provided: {body}", code="invalid_api_key")
    with pytest.raises(AuthenticationError) as caught:
        llm.chat("hi", model="m")
    assert str(caught.value) == (
        "alias 'm' (openai/my-model) failed with AuthenticationError: "
        "OpenAIException - Incorrect API key provided: key [redacted] was rejected; tried m"
    )
