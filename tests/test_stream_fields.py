"""What a stream's result and its ``llm.call`` event say, field by field: a completed stream, one
abandoned after its first delta (priced as an estimate, or unknown without a price), a stream iterated
twice. Real LiteLLM over HTTP to FakeProvider, one short stream per case.

Written for the ``streams`` mutation group (calls/streaming.py): the protocol tests check one event
per stream and the release of its reservation, not the fields.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.routing.counting import count_tokens
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  local: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${LOCAL_KEY:-none}"}
models:
  mini: {model: openai/gpt-4o-mini}
  unpriced: {model: local/some-model}
router: {num_retries: 0, timeout_s: 10, cooldown_s: 0}
"""


@pytest.fixture
def app(fake: FakeProvider, tmp_path: Path) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return LLM(use_fake(load_config(path), fake))


def the_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    [event] = [e for e in events if e["event"] == "llm.call"]
    return event


def test_a_completed_stream_reports_its_usage_cache_reads_and_reasoning(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("one two three", tokens_in=1000, tokens_out=50, cached_tokens=400, reasoning_tokens=20)
    stream = app.stream("count", model="mini")
    assert list(stream) == ["one ", "two ", "three"]
    result = stream.result
    assert result is not None
    assert (result.text, result.finish_reason) == ("one two three", "stop")
    assert (result.tokens_in, result.tokens_out) == (1000, 50)
    assert (result.cached_tokens, result.reasoning_tokens, result.cache_write_tokens) == (400, 20, 0)
    assert (result.cost_usd, result.cost_source) == (
        pytest.approx(600 * 0.15e-6 + 400 * 0.075e-6 + 50 * 0.6e-6, rel=1e-9),
        "table",
    )
    event = the_event(events)
    assert (event["stream"], event["status"], event["tokens_in"], event["tokens_out"]) == (
        "complete",
        "ok",
        1000,
        50,
    )
    assert (event["cached_tokens"], event["reasoning_tokens"]) == (400, 20)


@pytest.mark.parametrize(
    ("alias", "source"), [("mini", "estimate"), ("unpriced", "unknown")], ids=["priced", "unpriced"]
)
def test_an_abandoned_stream_is_counted_both_ways(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]], alias: str, source: str
) -> None:
    """Stopped after its first delta: no usage came, so the prompt and the text received are counted
    here; the cost is an estimate (unknown, never $0, without a price)."""
    fake.reply("alpha beta gamma delta epsilon zeta", tokens_in=999, tokens_out=99)
    stream = app.stream("spell the greek letters please", model=alias)
    for delta in stream:
        assert delta == "alpha "
        break
    result = stream.result
    assert result is not None
    assert (result.text, result.finish_reason) == ("alpha ", "abandoned")
    model = result.model
    sent = [{"role": "user", "content": "spell the greek letters please"}]
    assert result.tokens_in == count_tokens(sent, model=model)
    assert result.tokens_out == count_tokens("alpha ", model=model)
    assert result.tokens_in > result.tokens_out > 0
    assert result.cost_source == source
    if source == "unknown":
        assert result.cost_usd is None
    else:
        assert result.cost_usd == pytest.approx(result.tokens_in * 0.15e-6 + result.tokens_out * 0.6e-6)
    event = the_event(events)
    assert (event["stream"], event["tokens_in"], event["cost_source"]) == (
        "abandoned",
        result.tokens_in,
        source,
    )


async def test_an_abandoned_async_stream_is_recorded_as_abandoned(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    fake.reply("alpha beta gamma delta")
    stream = app.astream("letters", model="mini")
    async for delta in stream:
        assert delta == "alpha "
        break
    await stream.aclose()
    result = stream.result
    assert result is not None
    assert (result.text, result.finish_reason, result.cost_source) == ("alpha ", "abandoned", "estimate")
    assert result.tokens_out == count_tokens("alpha ", model=result.model)
    assert the_event(events)["stream"] == "abandoned"


def test_a_stream_is_iterated_once(app: LLM, fake: FakeProvider) -> None:
    stream = app.stream("hi", model="mini")
    assert "".join(stream) == "ok"
    with pytest.raises(RuntimeError, match=r"^a stream can be iterated once$"):
        list(stream)
    assert len(fake.requests) == 1


async def test_an_async_stream_is_iterated_once(app: LLM, fake: FakeProvider) -> None:
    stream = app.astream("hi", model="mini")
    assert [d async for d in stream] == ["ok"]
    with pytest.raises(RuntimeError, match=r"^a stream can be iterated once$"):
        _ = [d async for d in stream]
    assert len(fake.requests) == 1
