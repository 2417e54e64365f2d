"""Every field a chat call reads from the provider's answer, and every field its ``llm.call`` event
carries, checked one by one on a single fast call per case (real LiteLLM over HTTP to FakeProvider).

Written for the ``outcome`` mutation group (calls/outcome.py): the protocol tests check that there is
one event per call, not what it says about tokens, tool calls, the prompt cache, reasoning, the
failed alias or a cancelled call. The provider matrix checks some of this too, but is slow.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import llmcfg
from llmcfg import LLM, load_config
from llmcfg.calls.hooks import CallHook
from llmcfg.money.prices import price_table
from llmcfg.routing.router import attempts
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}
  gemini: {api_key: "${GEMINI_API_KEY}"}
models:
  mini: {model: openai/gpt-4o-mini}
  spare: {model: openai/gpt-4o}
  claude: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 1024}}
  pro: {model: gemini/gemini-2.5-pro}
  house: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 1024}, price: {input_per_mtok: 2, output_per_mtok: 10, cached_input_per_mtok: 0.2, cache_write_per_mtok: 3}}
fallbacks:
  spare: [mini]
  claude: [mini]
router: {num_retries: 0, timeout_s: 10, cooldown_s: 0, allowed_fails: 100}
"""
WEATHER = {
    "id": "call_7",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
}


class Finished(CallHook):
    """Records what ``finished`` is given: the call in flight and its event."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, dict[str, Any]]] = []

    def finished(self, call: Any, event: dict[str, Any]) -> None:
        self.seen.append((call, event))


@pytest.fixture
def hook() -> Finished:
    return Finished()


@pytest.fixture
def app(fake: FakeProvider, tmp_path: Path, hook: Finished) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return LLM(use_fake(load_config(path), fake), hooks=[hook])


def the_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    [event] = [e for e in events if e["event"] == "llm.call"]
    return event


def test_a_chat_answer_is_read_field_by_field(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    """Tokens, prompt-cache reads, reasoning, tool calls, the finish reason and an empty text: each
    into the result and the counts into the event (cached input at its own rate)."""
    fake.reply(
        "", tool_calls=[WEATHER], tokens_in=1000, tokens_out=50, cached_tokens=400, reasoning_tokens=30
    )
    result = app.chat("Weather in Oslo?", model="mini")
    assert result.text == ""
    assert result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_7", "weather", {"city": "Oslo"})
    ]
    assert (result.tokens_in, result.tokens_out) == (1000, 50)
    assert (result.cached_tokens, result.reasoning_tokens, result.cache_write_tokens) == (400, 30, 0)
    entry = price_table()["gpt-4o-mini"]
    expected = (
        600 * entry["input_cost_per_token"]
        + 400 * entry["cache_read_input_token_cost"]
        + 50 * entry["output_cost_per_token"]
    )
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected, rel=1e-9), "table")
    event = the_event(events)
    assert (event["tokens_in"], event["tokens_out"]) == (1000, 50)
    assert (event["cached_tokens"], event["reasoning_tokens"]) == (400, 30)
    assert "cache_write_tokens" not in event  # a count of 0 is left out
    assert event["cost_usd"] == result.cost_usd


def test_an_alias_with_its_own_prices_prices_each_part_of_the_input(app: LLM, fake: FakeProvider) -> None:
    """Fresh input, prompt-cache reads and writes, output: each at the alias's own rate."""
    fake.reply("ok", tokens_in=5000, cached_tokens=3000, cache_creation_tokens=1500, tokens_out=40)
    result = app.chat("hi", model="house")
    expected = 500 * 2e-6 + 3000 * 0.2e-6 + 1500 * 3e-6 + 40 * 10e-6
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected, rel=1e-9), "override")
    assert (result.cached_tokens, result.cache_write_tokens) == (3000, 1500)


def test_an_alias_passed_over_for_want_of_a_key_is_named_with_the_reason(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0001")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    app = LLM(use_fake(load_config(path), fake, keep_keys=True))
    result = app.chat("hi", model="claude")
    assert (result.alias, result.skipped) == ("mini", {"claude": "ANTHROPIC_API_KEY not set"})
    assert result.fallbacks_tried == ("claude",)


def test_a_plain_answer_says_why_it_stopped(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("Sunny.", tokens_in=12, tokens_out=2)
    start = time.perf_counter()
    result = app.chat("Weather?", model="mini")
    outside_ms = (time.perf_counter() - start) * 1000
    assert 0 < result.latency_ms <= outside_ms  # timed by the call itself, in milliseconds
    assert (result.text, result.finish_reason, result.tool_calls) == ("Sunny.", "stop", ())
    event = the_event(events)
    assert not {"cached_tokens", "cache_write_tokens", "reasoning_tokens"} & set(event)


def test_prompt_cache_writes_reach_the_result_and_the_event(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("ok", tokens_in=1000, cache_creation_tokens=400, tokens_out=50)
    result = app.chat("hi", model="claude")
    assert (result.cache_write_tokens, result.cached_tokens) == (400, 0)
    event = the_event(events)
    assert event["cache_write_tokens"] == 400
    assert "cached_tokens" not in event


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("cached", [0, 100_000], ids=["fresh", "with-cache-reads"])
def test_a_long_prompt_is_priced_at_the_models_upper_tier(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]], cached: int, streamed: bool
) -> None:
    """gemini-2.5-pro costs twice as much per token above 200k prompt tokens, cache reads included.
    LiteLLM's own figure knows the tiers; the flat rates would charge half. With cache reads,
    llmcfg priced the call itself at the flat rates (it took LiteLLM's figure for not knowing cached
    rates, which it does): a 300k-token call with 100k cached came to 0.263 USD instead of 0.526.
    A stream, whose usage comes in its last chunk, was always priced at the flat rates (and so at
    half what its budget reserved)."""
    fake.reply("ok", tokens_in=300_000, cached_tokens=cached, tokens_out=50)
    if streamed:
        stream = app.stream("hi", model="pro")
        assert "".join(stream) == "ok"
        result = stream.result
        assert result is not None
    else:
        result = app.chat("hi", model="pro")
    entry = price_table()["gemini/gemini-2.5-pro"]
    expected = (
        (300_000 - cached) * entry["input_cost_per_token_above_200k_tokens"]
        + cached * entry["cache_read_input_token_cost_above_200k_tokens"]
        + 50 * entry["output_cost_per_token_above_200k_tokens"]
    )
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected, rel=1e-9), "table")
    assert the_event(events)["cost_usd"] == result.cost_usd


def test_a_failed_call_names_its_alias_model_and_original_error(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]], hook: Finished
) -> None:
    fake.fail(500, message="upstream exploded", model="gpt-4o-mini", times=None)
    with pytest.raises(llmcfg.ProviderError) as caught:
        app.chat("hi", model="mini")
    error = caught.value
    assert (error.alias, error.model, error.tried) == ("mini", "openai/gpt-4o-mini", ("mini",))
    assert str(error).startswith("alias 'mini' (openai/gpt-4o-mini) failed with ")
    cause = error.__cause__
    assert str(cause).startswith("litellm.")  # the stand-in names the original's class ...
    assert "upstream exploded" in str(cause)  # ... and carries its message
    assert getattr(cause, "status_code", None) == 500
    event = the_event(events)
    assert {k: event[k] for k in ("kind", "requested", "alias", "model", "provider")} == {
        "kind": "chat",
        "requested": "mini",
        "alias": "mini",
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
    }
    assert (event["status"], event["error"], event["error_message"]) == (
        "error",
        type(error).__name__,
        str(error),
    )
    assert event["fallbacks_tried"] == ["mini"]
    assert 0 < event["latency_ms"] < 60_000  # timed from the call's start, not from the clock's zero
    [(call, seen)] = hook.seen
    assert call.info.alias == "mini"
    assert (seen["request_id"], seen["alias"], seen["kind"]) == (event["request_id"], "mini", "chat")


async def test_a_cancelled_call_is_recorded_with_its_call_and_forgets_its_failures(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]], hook: Finished
) -> None:
    """The first alias fails (its failure is remembered for the request), the fallback hangs, the
    caller cancels: the event names the call and what was asked, and the remembered failure goes."""
    fake.fail(500, model="gpt-4o", times=None)
    fake.delay(3, times=None)
    task = asyncio.create_task(app.achat("hi", model="spare"))
    while len(fake.requests) < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # LiteLLM's failure callback for the first alias has run
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    event = the_event(events)
    assert {k: event[k] for k in ("kind", "requested", "alias", "model", "provider", "status", "error")} == {
        "kind": "chat",
        "requested": "spare",
        "alias": "spare",
        "model": "openai/gpt-4o",
        "provider": "openai",
        "status": "error",
        "error": "CancelledError",
    }
    assert event["fallbacks_tried"] == []
    [(call, _)] = hook.seen
    assert call is not None
    assert call.request_id == event["request_id"]
    assert attempts.pop(event["request_id"]) == []


def test_a_cost_in_the_answer_of_a_provider_that_does_not_report_costs_is_ignored(
    app: LLM, fake: FakeProvider
) -> None:
    """LiteLLM's own figure is the response's ``usage.cost`` when it has one; OpenAI reports no cost,
    so such a number is not a price: the table prices the call (it came out as 0.5 USD "table")."""
    fake.reply("ok", tokens_in=1000, tokens_out=50, cost=0.5)
    result = app.chat("hi", model="mini")
    entry = price_table()["gpt-4o-mini"]
    expected = 1000 * entry["input_cost_per_token"] + 50 * entry["output_cost_per_token"]
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected, rel=1e-9), "table")


def test_a_call_the_budget_refuses_is_recorded_as_blocked_with_the_reason(
    fake: FakeProvider, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "budgets: {daily_usd: 0.000001}\n")
    app = LLM(use_fake(load_config(path), fake))
    with pytest.raises(llmcfg.BudgetExceededError) as caught:
        app.chat("hi", model="mini")
    assert fake.requests == []
    event = the_event(events)
    assert (event["status"], event["error"], event["error_message"]) == (
        "blocked",
        "BudgetExceededError",
        str(caught.value),
    )
    assert (event["alias"], event["fallbacks_tried"]) == ("mini", [])
    assert 0 < event["latency_ms"] < 60_000
