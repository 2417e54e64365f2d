"""What a failed call's error says, exactly: the alias and model, the provider's first line without
LiteLLM's repeated class names, cut at 300 characters, what was tried; its ``__cause__`` (the
scrubbed stand-in of LiteLLM's exception: class, whole message, status); and ``retry_after`` from a
provider's ``Retry-After`` or from the Router's cooldown. Real failing calls through LiteLLM against
the FakeProvider, except the model-less message, which no call produces (translate's own contract).
Written against the mutants of routing/errors.py that the older tests let live (docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

import litellm
import pytest

import llmcfg
from llmcfg import LLM, load_config
from llmcfg.routing.errors import UpstreamError, scrubbed, translate
from llmcfg.testing import FakeProvider

CONFIG = """
providers:
  local: {{kind: openai, api_base: "{base}", api_key: "${{LOCAL_KEY}}"}}
models:
  m: {{model: local/my-model, price: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  n: {{model: local/other-model, price: {{input_per_mtok: 1, output_per_mtok: 1}}}}
fallbacks: {{m: [n]}}
router: {{num_retries: 0}}
"""

POOL = """
providers:
  pool: {{kind: openai, api_base: "{base}", api_key: ["${{POOL_KEY_1:-pool-one}}", "${{POOL_KEY_2:-pool-two}}"]}}
models:
  pooled: {{model: pool/gpt-4o-mini}}
router: {{num_retries: 0, timeout_s: 10, cooldown_s: 45, allowed_fails: 0}}
"""


@pytest.fixture
def llm(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LLM:
    monkeypatch.setenv("LOCAL_KEY", "local-key")
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG.format(base=fake.base_url))
    return LLM(load_config(path))


def test_the_message_names_alias_model_first_line_and_what_was_tried(llm: LLM, fake: FakeProvider) -> None:
    fake.fail(401, message="bad key here", times=None)  # the fallback fails too: LiteLLM adds lines
    with pytest.raises(llmcfg.AuthenticationError) as caught:
        llm.chat("hi", model="m")
    assert str(caught.value) == (
        "alias 'm' (openai/my-model) failed with AuthenticationError: OpenAIException - bad key here; tried m, n"
    )
    assert (caught.value.status_code, caught.value.tried) == (401, ("m", "n"))
    assert (caught.value.alias, caught.value.model) == ("m", "openai/my-model")
    cause = caught.value.__cause__
    assert isinstance(cause, UpstreamError)
    assert str(cause).startswith(  # the stand-in keeps LiteLLM's class and its whole message
        "litellm.exceptions.AuthenticationError: litellm.AuthenticationError: AuthenticationError: "
        "OpenAIException - bad key here\n"
    )
    assert "Fallback to n also failed" in str(cause)
    assert cause.status_code == 401


@pytest.mark.parametrize(("length", "cut"), [(282, False), (283, True), (400, True)])
def test_a_long_provider_message_is_cut_at_300_characters(
    llm: LLM, fake: FakeProvider, length: int, cut: bool
) -> None:
    fake.fail(400, message="x" * length)
    with pytest.raises(llmcfg.InvalidRequestError) as caught:
        llm.chat("hi", model="n")
    detail = "OpenAIException - " + "x" * length  # 18 + length characters
    shown = detail[:300] + "…" if cut else detail
    assert (
        str(caught.value) == f"alias 'n' (openai/other-model) failed with BadRequestError: {shown}; tried n"
    )


def test_a_failure_without_a_model_names_the_alias_alone() -> None:
    error = litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o")
    translated = translate(error, alias="a", model=None, tried=())
    assert isinstance(translated, llmcfg.RateLimitError)
    assert str(translated) == "alias 'a' failed with RateLimitError: slow down"


def test_retry_after_comes_from_the_header_then_from_the_routers_cooldown(
    fake: FakeProvider, tmp_path: Path
) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(POOL.format(base=fake.base_url))
    pooled = LLM(load_config(path))
    fake.fail(429, retry_after=60, api_key="pool-one", times=None)
    fake.fail(429, api_key="pool-two", times=None)  # no Retry-After: nothing to say
    seen: dict[str, float | None] = {}
    for _ in range(40):  # the Router picks a key at random; each key fails once, then cools down
        with pytest.raises(llmcfg.RateLimitError) as caught:
            pooled.chat("hi", model="pooled")
        sent = fake.requests[-1].api_key if fake.requests else None
        cause = str(caught.value.__cause__)
        if "RouterRateLimitError" in cause:  # both keys cooling down: the Router's own refusal
            assert len(seen) == 2
            # the soonest a key is back: key two's cooldown_s (key one's Retry-After asked for 60)
            assert caught.value.retry_after == 45.0
            break
        assert sent is not None
        seen[sent] = caught.value.retry_after
    else:
        pytest.fail(f"the Router never refused for cooldown: {seen}")
    assert seen == {"pool-one": 60.0, "pool-two": None}


def test_a_context_error_without_numbers_leaves_them_unknown() -> None:
    error = litellm.ContextWindowExceededError("prompt too long", model="gpt-4o", llm_provider="openai")
    translated = translate(error, alias="a", model="openai/gpt-4o", tried=("a",))
    assert isinstance(translated, llmcfg.ContextLengthError)
    assert (translated.max_tokens, translated.tokens) == (None, None)


def test_a_status_that_is_not_a_number_is_not_passed_on() -> None:
    class OddError(Exception):
        status_code = "500"  # a library that keeps it as text

    translated = translate(OddError("odd"), alias="a", model="m", tried=())
    assert translated.status_code is None
    assert scrubbed(OddError("odd"), []).status_code is None


def test_an_exception_without_a_status_is_still_translated() -> None:
    """Whatever LiteLLM lets through (a parsing ValueError, say) becomes a ProviderError, not an
    AttributeError from reading a status it does not have."""
    translated = translate(ValueError("unparsable answer"), alias="a", model="m", tried=("a",))
    assert isinstance(translated, llmcfg.ProviderUnavailableError)
    assert (str(translated), translated.status_code) == (
        "alias 'a' (m) failed with ValueError: unparsable answer; tried a",
        None,
    )
    assert scrubbed(ValueError("unparsable answer"), []).status_code is None
