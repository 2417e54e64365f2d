"""Issue 8's surface over real HTTP: faults and fallbacks (sync and async), streams, tools,
reasoning, embeddings, prompt caching, structured output, token counting and the text cache."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel

import llmcfg
from llmcfg import LLM, load_config
from llmcfg.calls.structured import extract_json
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC

LLAMA = "meta-llama/llama-3.2-11b-vision-instruct"
FULL = (
    BASIC.replace(
        "router: {num_retries: 0, timeout_s: 5, cooldown_s: 1, allowed_fails: 100}",
        "router: {num_retries: 0, timeout_s: 1, cooldown_s: 1, allowed_fails: 100}",
    )
    .replace(
        "  pooled: {model: pool/gpt-4o-mini}",
        "  pooled: {model: pool/gpt-4o-mini}\n  embed: {model: openai/text-embedding-3-small}\n  cached-llama: {model: openrouter/anthropic/claude-3.5-sonnet, vision: true, cache_prompt: true}",
    )
    .replace("presets:\n", "presets:\n  embedding: {fast: embed, balanced: embed, best: embed}\n")
    + "fallbacks_on_context:\n  mini: [llama-vision]\ncache: {dir: cache}\n"
)


@pytest.fixture
def tllm(write_config: Any, fake: FakeProvider) -> LLM:
    return LLM(use_fake(load_config(write_config(FULL)), fake))


def calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "llm.call"]


FAULTS = {
    "429": lambda f: f.fail(429, model="gpt-4o", retry_after=0, times=None),
    "500": lambda f: f.fail(500, model="gpt-4o", times=None),
    "timeout": lambda f: f.delay(2, model="gpt-4o", times=None),
    "reset": lambda f: f.reset_connection(model="gpt-4o", times=None),
    "garbage": lambda f: f.garbage(model="gpt-4o", times=None),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_on_primary_ends_in_the_fallback_sync(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]], fault: str
) -> None:
    FAULTS[fault](fake)
    fake.reply("fallback answer", model=LLAMA)
    result = tllm.chat("hi", model="gpt4o")
    assert (result.text, result.alias, result.fallbacks_tried) == (
        "fallback answer",
        "llama-vision",
        ("gpt4o",),
    )
    [event] = calls(events)
    assert event["fallbacks_tried"] == ["gpt4o"]


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_on_primary_ends_in_the_fallback_async(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]], fault: str
) -> None:
    FAULTS[fault](fake)
    fake.reply("fallback answer", model=LLAMA)
    result = await tllm.achat("hi", model="gpt4o")
    assert (result.text, result.alias, result.fallbacks_tried) == (
        "fallback answer",
        "llama-vision",
        ("gpt4o",),
    )
    assert len(calls(events)) == 1


def test_over_long_prompt_moves_to_the_larger_context_alias(tllm: LLM, fake: FakeProvider) -> None:
    fake.fail(
        400,
        model="gpt-4o-mini",
        message="This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens.",
        code="context_length_exceeded",
    )
    result = tllm.chat("a very long prompt", model="mini")
    assert (result.alias, result.fallbacks_tried) == ("llama-vision", ("mini",))


def test_context_length_error_says_how_long_and_how_much_fits(write_config: Any, fake: FakeProvider) -> None:
    llm = LLM(use_fake(load_config(write_config(FULL.split("fallbacks_on_context:")[0])), fake))
    fake.fail(
        400,
        model="gpt-4o-mini",
        message="This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens.",
        code="context_length_exceeded",
    )
    with pytest.raises(llmcfg.ContextLengthError) as caught:
        llm.chat("long", model="mini")
    assert (caught.value.tokens, caught.value.max_tokens) == (200000, 128000)


def test_content_policy_refusal_does_not_fall_back_by_default(tllm: LLM, fake: FakeProvider) -> None:
    fake.fail(
        400,
        model="gpt-4o",
        message="Your request was rejected as a result of the safety system.",
        code="content_policy_violation",
    )
    with pytest.raises(llmcfg.ContentPolicyError):
        tllm.chat("hi", model="gpt4o")
    assert [r.model for r in fake.requests] == ["gpt-4o"]


def test_content_policy_fallback_switch(write_config: Any, fake: FakeProvider) -> None:
    text = FULL.replace("allowed_fails: 100}", "allowed_fails: 100, fallback_on_content_policy: true}")
    llm = LLM(use_fake(load_config(write_config(text)), fake))
    fake.fail(
        400,
        model="gpt-4o",
        message="Your request was rejected as a result of the safety system.",
        code="content_policy_violation",
    )
    assert llm.chat("hi", model="gpt4o").alias == "llama-vision"


def test_retry_honours_retry_after(write_config: Any, fake: FakeProvider) -> None:
    text = FULL.replace("router: {num_retries: 0", "router: {num_retries: 1")
    llm = LLM(use_fake(load_config(write_config(text)), fake))
    fake.fail(429, model="gpt-4o-mini", retry_after=1)
    start = time.perf_counter()
    assert llm.chat("hi", model="mini").text == "ok"
    assert time.perf_counter() - start >= 0.9
    assert len(fake.requests) == 2


def test_failing_key_of_a_pool_is_cooled_down_while_the_other_serves(
    write_config: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOL_KEY_1", "bad-key")
    monkeypatch.setenv("POOL_KEY_2", "good-key")
    text = FULL.replace(
        "router: {num_retries: 0, timeout_s: 1, cooldown_s: 1, allowed_fails: 100}",
        "router: {num_retries: 2, timeout_s: 1, cooldown_s: 60, allowed_fails: 1}",
    )
    llm = LLM(use_fake(load_config(write_config(text)), fake))
    fake.fail(500, api_key="bad-key", times=None)
    for _ in range(20):
        assert llm.chat("hi", model="pooled").text == "ok"
    used = [r.api_key for r in fake.requests]
    assert used.count("good-key") == 20
    assert used.count("bad-key") <= 2  # then it rests


def test_every_option_failing_lists_what_was_tried_async(tllm: LLM, fake: FakeProvider) -> None:
    fake.fail(503, times=None)
    with pytest.raises(llmcfg.ProviderError) as caught:
        asyncio.run(tllm.achat("hi", model="gpt4o"))
    assert set(caught.value.tried) == {"gpt4o", "llama-vision", "mini"}


# -- streams ---------------------------------------------------------------------------------------
def test_stream_yields_deltas_and_one_event_at_the_end(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("one two three", tokens_in=10, tokens_out=3)
    stream = tllm.stream("count", model="mini")
    assert calls(events) == []  # nothing sent before iteration
    assert list(stream) == ["one ", "two ", "three"]
    assert stream.result is not None
    assert (stream.result.text, stream.result.tokens_in, stream.result.tokens_out) == ("one two three", 10, 3)
    assert stream.result.cost_usd == pytest.approx(10 * 0.15e-6 + 3 * 0.6e-6)
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}
    [event] = calls(events)
    assert (event["status"], event["stream"], event["tokens_out"]) == ("ok", "complete", 3)


def test_abandoned_stream_still_emits_its_event_with_an_estimate(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("a b c d e f g")
    stream = tllm.stream("letters", model="mini")
    for delta in stream:
        assert delta == "a "
        break
    del delta
    [event] = calls(events)
    assert event["stream"] == "abandoned"
    assert event["cost_source"] == "estimate"
    assert event["tokens_in"] > 0


def test_stream_falls_back_before_the_first_token(tllm: LLM, fake: FakeProvider) -> None:
    fake.fail(500, model="gpt-4o", times=None)
    fake.reply("from the fallback", model=LLAMA)
    stream = tllm.stream("hi", model="gpt4o")
    assert "".join(stream) == "from the fallback"
    assert stream.result is not None
    assert (stream.result.alias, stream.result.fallbacks_tried) == ("llama-vision", ("gpt4o",))


def test_stream_failing_after_the_first_token_raises(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("one two three four", model="gpt-4o", break_after=2)
    received: list[str] = []
    with pytest.raises(llmcfg.ProviderError):
        received.extend(tllm.stream("hi", model="gpt4o"))
    assert received == ["one ", "two "]
    assert [r.model for r in fake.requests] == ["gpt-4o"]  # no second model spliced on
    assert [e["status"] for e in calls(events)] == ["error"]


async def test_astream(tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]) -> None:
    fake.reply("async stream")
    stream = tllm.astream("hi", model="mini")
    assert [d async for d in stream] == ["async ", "stream"]
    assert stream.result is not None
    assert stream.result.text == "async stream"
    assert len(calls(events)) == 1


# -- tools, reasoning, prompt caching ------------------------------------------------------------------
def test_tools_pass_through_and_tool_calls_are_typed(tllm: LLM, fake: FakeProvider) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    fake.reply(
        "",
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    )
    result = tllm.chat("weather in Paris?", model="mini", tools=[tool])
    assert fake.requests[-1].body["tools"] == [tool]
    [call] = result.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "weather", {"city": "Paris"})


def test_reasoning_effort_passes_and_reasoning_tokens_are_reported(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("42", tokens_out=50, reasoning_tokens=40)
    result = tllm.chat("think", model="gpt4o", reasoning_effort="high")
    assert fake.requests[-1].body["reasoning_effort"] == "high"
    assert result.reasoning_tokens == 40
    assert calls(events)[0]["reasoning_tokens"] == 40


def test_cached_input_tokens_are_priced_at_the_cached_rate(tllm: LLM, fake: FakeProvider) -> None:
    fake.reply("x", tokens_in=10_000, tokens_out=0, cached_tokens=8_000)
    result = tllm.chat("long stable prefix", model="gpt4o")
    assert result.cached_tokens == 8_000
    assert result.cost_usd == pytest.approx(2_000 * 2.5e-6 + 8_000 * 1.25e-6)


def test_cache_prompt_marks_the_system_prompt(tllm: LLM, fake: FakeProvider) -> None:
    tllm.chat("hi", system="You are a long, stable system prompt.", model="cached-llama")
    system = fake.requests[-1].messages[0]
    assert system["role"] == "system"
    assert system["content"][0]["cache_control"] == {"type": "ephemeral"}
    tllm.chat("hi", system="plain", model="mini")
    assert "cache_control" not in fake.requests[-1].messages[0]


# -- embeddings -------------------------------------------------------------------------------------
def test_embed_returns_vectors_and_cost_and_is_cached(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    result = tllm.embed(["alpha beta", "gamma"], quality="fast")
    assert len(result.vectors) == 2
    assert len(result.vectors[0]) == 8
    assert result.tokens_in == 3
    assert result.cost_usd == pytest.approx(3 * 2e-8)
    again = tllm.embed(["alpha beta", "gamma"], quality="fast")
    assert again.cached
    assert again.vectors == result.vectors
    assert len(fake.requests) == 1
    assert [e["kind"] for e in calls(events)] == ["embed", "embed"]


async def test_aembed_and_mode_check(tllm: LLM) -> None:
    assert len((await tllm.aembed("x", model="embed")).vectors) == 1
    with pytest.raises(llmcfg.CapabilityError, match="has mode chat; embed needs embedding"):
        tllm.embed("x", model="mini")


# -- structured output --------------------------------------------------------------------------------
class Invoice(BaseModel):
    number: str
    total: float


def test_extract_uses_json_schema_mode_where_supported(tllm: LLM, fake: FakeProvider) -> None:
    fake.reply('{"number": "A-1", "total": 12.5}')
    assert tllm.extract("Invoice A-1 totals 12.50", schema=Invoice, model="gpt4o") == Invoice(
        number="A-1", total=12.5
    )
    assert fake.requests[-1].body["response_format"]["type"] == "json_schema"


def test_extract_falls_back_to_json_mode_and_retries_with_the_errors(tllm: LLM, fake: FakeProvider) -> None:
    fake.reply('Here you go:\n```json\n{"number": "A-1"}\n```', times=1)
    fake.reply("{'number': 'A-1', 'total': 3,}", times=1)
    result = tllm.extract_result("Invoice A-1", schema=Invoice, model="llama-vision")
    assert result.value == Invoice(number="A-1", total=3)
    assert result.attempts == 2
    first, second = fake.requests
    assert first.body["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in first.messages[0]["content"]
    assert "total: Field required" in second.messages[-1]["content"]


def test_extract_gives_up_with_the_last_raw_text(tllm: LLM, fake: FakeProvider) -> None:
    fake.reply("no json here")
    with pytest.raises(llmcfg.StructuredOutputError) as caught:
        tllm.extract("x", schema=Invoice, model="gpt4o", retries=1)
    assert caught.value.raw_text == "no json here"
    assert len(fake.requests) == 2


async def test_aextract(tllm: LLM, fake: FakeProvider) -> None:
    fake.reply('{"number": "B", "total": 1}')
    assert (await tllm.aextract("x", schema=Invoice, model="gpt4o")).number == "B"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! The answer is {"a": {"b": "}"}} as requested.', {"a": {"b": "}"}}),
        ("{'a': 1, 'b': [1, 2,],}", {"a": 1, "b": [1, 2]}),
        ("[1, 2, 3]", [1, 2, 3]),
    ],
)
def test_extract_json(text: str, value: Any) -> None:
    assert extract_json(text) == value


def test_extract_json_without_json() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("just words")


# -- knowing the models, counting, the text cache --------------------------------------------------------
def test_models_count_tokens_and_estimate_cost(tllm: LLM) -> None:
    info = tllm.model_info("mini")
    assert (info.model, info.context_window, info.vision) == ("openai/gpt-4o-mini", 128000, True)
    assert {row.alias for row in tllm.models()} >= {"mini", "gpt4o", "embed"}
    assert llmcfg.count_tokens("hello world", model="gpt-4o") == 2
    tokens = tllm.count_tokens([{"role": "user", "content": "hello world"}], model="mini")
    assert tokens > 2
    assert tllm.estimate_cost(
        messages=[{"role": "user", "content": "hello world"}], model="mini", max_tokens=100
    ) == pytest.approx(tokens * 0.15e-6 + 100 * 0.6e-6)
    assert tllm.estimate_cost("x", model="llama-vision") is None


def test_chat_cache_on_request_and_never_for_failures(
    tllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    first = tllm.chat("same", model="mini", cache=True)
    second = tllm.chat("same", model="mini", cache=True)
    assert (second.cached, second.saved_usd) == (True, first.cost_usd)
    assert len(fake.requests) == 1
    tllm.chat("same", model="mini")  # cache.text is off: not cached unless asked
    assert len(fake.requests) == 2
    assert [e["cached"] for e in calls(events)] == [False, True, False]
