"""chat/achat through the real LiteLLM Router, over HTTP, against the fake provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmcfg
from llmcfg import LLM, CredentialError, UnknownAliasError, load_config
from llmcfg.money.events import EVENT_FIELDS
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC


def calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "llm.call"]


def test_quality_maps_to_preset_alias(llm: LLM, fake: FakeProvider) -> None:
    fake.reply("fast answer", model="gpt-4o-mini")
    fake.reply("best answer", model="gpt-4o")
    assert llm.chat("hi", quality="fast").text == "fast answer"
    best = llm.chat("hi", quality="best")
    assert (best.text, best.alias, best.requested, best.model) == (
        "best answer",
        "gpt4o",
        "text/best",
        "openai/gpt-4o",
    )
    assert llm.chat("hi").requested == "text/balanced"


def test_alias_messages_system_and_params_reach_the_provider(llm: LLM, fake: FakeProvider) -> None:
    llm.chat(
        messages=[{"role": "user", "content": "question"}], system="be brief", model="gpt4o", max_tokens=7
    )
    body = fake.requests[-1].body
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "question"},
    ]
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.2  # the alias's own params
    assert "price" not in body  # llmcfg's own keys stay home
    assert "alias" not in json.dumps(body)


async def test_achat(llm: LLM, fake: FakeProvider) -> None:
    fake.reply("async ok")
    result = await llm.achat(messages=[{"role": "user", "content": "Hi"}], model="mini")
    assert result.text == "async ok"
    assert result.alias == "mini"


def test_cost_is_table_price_times_usage(llm: LLM, fake: FakeProvider) -> None:
    fake.reply("x", tokens_in=1000, tokens_out=500)
    result = llm.chat("hi", model="mini")
    assert (result.tokens_in, result.tokens_out) == (1000, 500)
    assert result.cost_source == "table"
    assert result.cost_usd == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)


def test_price_override_wins(llm: LLM, fake: FakeProvider) -> None:
    fake.reply("x", tokens_in=2_000_000, tokens_out=1_000_000)
    result = llm.chat("hi", model="house")
    assert result.cost_source == "override"
    assert result.cost_usd == pytest.approx(2 * 0.5 + 1 * 1.5)


def test_provider_reported_cost_wins(llm: LLM, fake: FakeProvider) -> None:
    fake.reply("x", cost=0.0042)
    result = llm.chat("hi", model="llama-vision")
    assert (result.cost_usd, result.cost_source) == (0.0042, "provider")


def test_unpriced_model_is_unknown_not_zero(llm: LLM, fake: FakeProvider) -> None:
    result = llm.chat("hi", model="llama-vision")
    assert (result.cost_usd, result.cost_source) == (None, "unknown")


def test_fallback_on_500(llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]) -> None:
    fake.fail(500, model="gpt-4o", times=None)
    fake.reply("from llama", model="meta-llama/llama-3.2-11b-vision-instruct")
    result = llm.chat("hi", quality="best")
    assert (result.text, result.alias, result.fallbacks_tried) == ("from llama", "llama-vision", ("gpt4o",))
    [event] = calls(events)
    assert event["alias"] == "llama-vision"
    assert event["fallbacks_tried"] == ["gpt4o"]
    assert event["status"] == "ok"


async def test_fallback_chain_async(llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]) -> None:
    fake.fail(500, model="gpt-4o", times=None)
    fake.fail(503, model="meta-llama/llama-3.2-11b-vision-instruct", times=None)
    result = await llm.achat("hi", model="gpt4o")
    assert result.alias == "mini"
    assert result.fallbacks_tried == ("gpt4o", "llama-vision")
    assert len(calls(events)) == 1


def test_every_option_failing_says_what_was_tried(
    llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.fail(500, times=None)
    with pytest.raises(llmcfg.ProviderError) as caught:
        llm.chat("hi", model="gpt4o")
    assert set(caught.value.tried) == {"gpt4o", "llama-vision", "mini"}
    assert isinstance(caught.value.__cause__, Exception)
    [event] = calls(events)
    assert event["status"] == "error"
    assert event["error"] == type(caught.value).__name__
    assert set(event["fallbacks_tried"]) == {"gpt4o", "llama-vision", "mini"}


async def test_every_option_failing_says_what_was_tried_async(
    llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.fail(500, times=None)
    with pytest.raises(llmcfg.ProviderError) as caught:
        await llm.achat("hi", model="gpt4o")
    assert set(caught.value.tried) == {"gpt4o", "llama-vision", "mini"}
    [event] = calls(events)
    assert set(event["fallbacks_tried"]) == {"gpt4o", "llama-vision", "mini"}


def test_llmcfg_listens_to_litellm_failures_only(llm: LLM, fake: FakeProvider) -> None:
    """LiteLLM runs its input and success callbacks on every call in the process, the application's
    own calls too (a success callback costs each call ~70 us of background logging work): llmcfg
    needs to hear only which alias failed."""
    import litellm

    llm.chat("hi")

    def ours(hooks: list[Any]) -> list[Any]:
        return [hook for hook in hooks if type(hook).__module__.startswith("llmcfg")]

    assert ours(litellm.failure_callback)
    assert ours(litellm._async_failure_callback)
    for hooks in (
        litellm.callbacks,
        litellm.input_callback,
        litellm.success_callback,
        litellm._async_success_callback,
    ):
        assert not ours(hooks)


def test_one_event_per_call_with_the_documented_fields(
    llm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("x", tokens_in=10, tokens_out=2)
    result = llm.chat("hi", model="mini")
    [event] = calls(events)
    assert set(EVENT_FIELDS) <= set(event)
    assert event["request_id"] == result.request_id
    assert {
        k: event[k] for k in ("kind", "requested", "alias", "model", "provider", "tokens_in", "tokens_out")
    } == {
        "kind": "chat",
        "requested": "mini",
        "alias": "mini",
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "tokens_in": 10,
        "tokens_out": 2,
    }
    assert event["cost_usd"] == result.cost_usd
    assert event["cost_source"] == "table"
    assert event["cached"] is False
    assert event["latency_ms"] > 0
    assert event["error"] is None


def test_events_are_appended_to_the_jsonl_cost_log(llm: LLM, fake: FakeProvider) -> None:
    llm.chat("one", model="mini")
    fake.fail(400, model="gpt-4o-mini")
    with pytest.raises(llmcfg.InvalidRequestError):
        llm.chat("two", model="mini")
    assert llm.config.source is not None
    lines = Path(llm.config.resolve_path(llm.config.logging.cost_log or "")).read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["ok", "error"]


def test_unknown_alias_and_quality(llm: LLM, events: list[dict[str, Any]]) -> None:
    with pytest.raises(UnknownAliasError, match="did you mean 'gpt4o'"):
        llm.chat("hi", model="gpt4")
    with pytest.raises(UnknownAliasError, match="unknown quality 'ultra'"):
        llm.chat("hi", quality="ultra")
    assert [e["status"] for e in calls(events)] == ["error", "error"]


def test_missing_credential_names_variable_and_alias(
    write_config: Any, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    config = load_config(write_config(BASIC))
    pointed = use_fake(config, fake, keep_keys=True)
    llm = LLM(pointed)
    with pytest.raises(CredentialError) as caught:
        llm.chat("hi", model="gpt4o")
    assert caught.value.variable == "OPENAI_API_KEY"
    assert caught.value.alias == "gpt4o"
    assert fake.requests == []
    assert calls(events)[0]["error"] == "CredentialError"


def test_credential_set_later_is_picked_up(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = LLM(use_fake(load_config(write_config(BASIC)), fake, keep_keys=True))
    with pytest.raises(CredentialError):
        llm.chat("hi", model="mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-later-0001")
    assert llm.chat("hi", model="mini").text == "ok"
    assert fake.requests[-1].api_key == "sk-test-later-0001"


def test_key_pool_spreads_traffic_over_both_keys(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOL_KEY_1", "key-one")
    monkeypatch.setenv("POOL_KEY_2", "key-two")
    llm = LLM(use_fake(load_config(write_config(BASIC)), fake))
    for _ in range(30):
        llm.chat("hi", model="pooled")
    used = [r.api_key for r in fake.requests]
    assert used.count("key-one") >= 3
    assert used.count("key-two") >= 3


def test_env_var_forms_reach_the_provider(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-braces")
    monkeypatch.setenv("OPENROUTER_API_KEY", "from-proxy-spelling")
    llm = LLM(use_fake(load_config(write_config(BASIC)), fake, keep_keys=True))
    llm.chat("hi", model="mini")
    llm.chat("hi", model="llama-vision")
    llm.chat("hi", model="house")
    assert [r.api_key for r in fake.requests] == ["from-braces", "from-proxy-spelling", "none"]


def test_no_secret_in_messages_events_repr(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]]
) -> None:
    secret = "SECRETabcdef0123456789"  # no sk- prefix: redaction must not rely on the shape
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    llm = LLM(use_fake(load_config(write_config(BASIC)), fake, keep_keys=True))
    result = llm.chat("hi", model="mini")
    fake.fail(401, message=f"Incorrect API key provided: {secret}", times=None)
    with pytest.raises(llmcfg.AuthenticationError) as caught:
        llm.chat("hi", model="mini")
    assert fake.requests[0].api_key == secret  # it was really used
    assert llm.config.source is not None
    outputs = [
        str(caught.value),
        repr(caught.value),
        repr(llm),
        repr(result),
        repr(llm.config),
        json.dumps(events, default=str),
    ]
    outputs.append(Path(llm.config.resolve_path(llm.config.logging.cost_log or "")).read_text())
    for text in outputs:
        assert secret not in text
        assert "SECRET" not in text


def test_module_level_chat_uses_llmcfg_config(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        BASIC.replace('"${OPENAI_API_KEY}"', '"${OPENAI_API_KEY:-k}"').replace(
            "http://127.0.0.1:9/v1", fake.base_url
        ),
        "other.yaml",
    )
    text = path.read_text().replace("openai: {api_key:", f'openai: {{api_base: "{fake.base_url}", api_key:')
    path.write_text(text)
    monkeypatch.setenv("LLMCFG_CONFIG", str(path))
    llmcfg.reset_default()
    try:
        fake.reply("module level")
        assert llmcfg.chat("Hello").text == "module level"
        assert llmcfg.default_llm().config.source == str(path)
    finally:
        llmcfg.reset_default()
