"""Attacks on the money guarantees through the real call path (LiteLLM over HTTP to the fake): spend
that could go unrecorded, land in the wrong budget window, or be counted for a call never sent."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import BaseModel

from llmcfg import LLM, BudgetExceededError, ProviderError, StructuredOutputError, load_config
from llmcfg.calls.hooks import CallHook
from llmcfg.config.aliases import describe
from llmcfg.config.load import parse_config
from llmcfg.money.budget.estimate import chat_estimate
from llmcfg.money.prices import price_table
from llmcfg.routing.counting import count_tokens
from llmcfg.testing import FakeProvider
from tests.images import png

CONFIG = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY:-k}}", api_base: "{base}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
  gpt4o: {{model: openai/gpt-4o}}
  dalle2: {{model: openai/dall-e-2, mode: image_generation}}
fallbacks: {{mini: [gpt4o]}}
router: {{num_retries: 0, timeout_s: 10}}
logging: {{cost_log: costs.jsonl}}
cache: {{dir: cache}}
budgets:
  daily_usd: 10.0
{extra}
"""


def make(tmp_path: Path, fake: FakeProvider, extra: str = "", **kw: Any) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG.format(base=fake.base_url, extra=extra))
    return LLM(load_config(path), **kw)


def window(llm: LLM, prefix: str) -> Any:
    [row] = [row for key, row in llm.spend().items() if key.startswith(prefix)]
    return row


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "costs.jsonl"
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


class Midnight(CallHook):
    """Moves the injected clock past midnight while the call is in flight."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def before_send(self, call: Any) -> float:
        self.clock.when += timedelta(minutes=1)
        return 0.0


class Clock:
    def __init__(self, when: datetime) -> None:
        self.when = when

    def __call__(self) -> datetime:
        return self.when


def test_a_fallbacks_spend_is_counted_for_the_alias_that_answered(tmp_path: Path, fake: FakeProvider) -> None:
    """mini falls back to gpt4o: the cost is gpt4o's spend (its per-alias limit and spend() row), in
    the day the call was reserved in. It used to land on mini, so gpt4o's daily cap never saw it."""
    fake.fail(500, model="gpt-4o-mini", times=None)
    fake.reply("ok", tokens_in=10, tokens_out=100)
    clock = Clock(datetime(2026, 11, 25, 23, 59, 30, tzinfo=timezone.utc))
    limits = "  per_alias: {gpt4o: {daily_usd: 0.0015}, mini: {daily_usd: 1.0}}"
    llm = make(tmp_path, fake, limits, clock=clock, hooks=[Midnight(clock)])
    result = llm.chat("hi", model="mini", max_tokens=100)
    assert (result.alias, result.cost_usd) == ("gpt4o", pytest.approx(10 * 2.5e-6 + 100 * 10e-6))
    clock.when = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)  # back in the day it was reserved
    spend = llm.spend()
    assert spend["alias=gpt4o:day:2026-11-25"].spent_usd == pytest.approx(result.cost_usd)
    assert spend["alias=mini:day:2026-11-25"].spent_usd == 0.0
    assert spend["total:day:2026-11-25"].spent_usd == pytest.approx(result.cost_usd)
    assert all(row.reserved_usd == 0.0 for row in spend.values())
    with pytest.raises(BudgetExceededError, match=r"per_alias\.gpt4o\.daily_usd"):
        llm.chat("hi", model="gpt4o", max_tokens=100)  # the cap now knows what gpt4o spent
    clock.when = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert llm.spend()["alias=gpt4o:day:2026-11-26"].spent_usd == 0.0


def ask(llm: LLM, stream: bool) -> str:
    if stream:
        return "".join(llm.stream("hi", model="mini", max_tokens=100))
    return llm.chat("hi", model="mini", max_tokens=100).text


def boom(logger: Any, name: str, event: Any) -> Any:
    raise RuntimeError("processor broke")


class Raising(CallHook):
    def finished(self, call: Any, event: dict[str, Any]) -> None:
        raise RuntimeError("hook broke")


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("breaks", ["structlog processor", "finished hook"])
def test_logging_or_a_hook_that_raises_loses_no_money(
    tmp_path: Path, fake: FakeProvider, breaks: str, stream: bool
) -> None:
    """The application's own code raises while the event goes out: its error reaches the caller, but
    the paid call is still settled (not left reserved until it expires, then forgotten) and its
    cost-log line is written."""
    fake.reply("ok", tokens_in=10, tokens_out=100)
    llm = make(tmp_path, fake, hooks=[Raising()] if breaks == "finished hook" else [])
    if breaks == "structlog processor":
        structlog.configure(processors=[boom])
    try:
        with pytest.raises(RuntimeError, match="broke"):
            ask(llm, stream)
    finally:
        structlog.reset_defaults()
    day = llm.spend().day
    assert day is not None
    [line] = lines(tmp_path)
    assert (line["status"], line["cost_usd"]) == ("ok", pytest.approx(10 * 0.15e-6 + 100 * 0.6e-6))
    assert (day.spent_usd, day.reserved_usd) == (pytest.approx(line["cost_usd"]), 0.0)
    assert llm.usage_stats()["total"]["cost_usd"] == pytest.approx(line["cost_usd"])


class Wait(CallHook):
    """A client-side rate limit: the stream waits before it is sent (an await point to cancel at)."""

    waiting = False

    def before_send(self, call: Any) -> float:
        self.waiting = True
        return 30.0


class Interrupt(CallHook):
    def before_send(self, call: Any) -> float:
        raise KeyboardInterrupt


def assert_nothing_spent(llm: LLM, tmp_path: Path, fake: FakeProvider, error: str) -> None:
    assert fake.requests == []
    day = llm.spend().day
    assert day is not None
    assert (day.spent_usd, day.reserved_usd) == (0.0, 0.0)
    [line] = lines(tmp_path)
    assert (line["status"], line["error"], line["cost_usd"], line["cost_source"]) == (
        "error",
        error,
        0.0,
        "none",
    )


async def test_a_stream_cancelled_before_it_was_sent_costs_nothing(
    tmp_path: Path, fake: FakeProvider
) -> None:
    """It used to be recorded as an abandoned stream (status ok) and its prompt's estimated cost was
    settled into the budget, for a request that never left the machine."""
    wait = Wait()
    llm = make(tmp_path, fake, hooks=[wait])

    async def consume() -> None:
        async for _ in llm.astream("hi", model="mini", max_tokens=100):
            pass

    task = asyncio.create_task(consume())
    while not wait.waiting:  # reserved, and waiting for the hook
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    day = llm.spend().day
    assert day is not None
    assert day.reserved_usd > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_nothing_spent(llm, tmp_path, fake, "CancelledError")


def test_a_stream_interrupted_before_it_was_sent_costs_nothing(tmp_path: Path, fake: FakeProvider) -> None:
    llm = make(tmp_path, fake, hooks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        list(llm.stream("hi", model="mini", max_tokens=100))
    assert_nothing_spent(llm, tmp_path, fake, "KeyboardInterrupt")


async def collect(llm: LLM, asynchronous: bool, into: list[str]) -> None:
    if asynchronous:
        async for delta in llm.astream("hi", model="mini", max_tokens=100):
            into.append(delta)
    else:
        into.extend(llm.stream("hi", model="mini", max_tokens=100))


@pytest.mark.parametrize("asynchronous", [False, True], ids=["stream", "astream"])
async def test_a_stream_the_provider_breaks_off_counts_what_arrived(
    tmp_path: Path, fake: FakeProvider, asynchronous: bool
) -> None:
    """The provider drops the connection after three chunks: the caller gets the error, but the text
    that arrived was generated and is paid for. It is counted as for an abandoned stream (an estimate
    of what arrived), settled, and carried by the one error event; it used to be released at $0."""
    fake.reply("one two three four five six", break_after=3)
    llm = make(tmp_path, fake)
    got: list[str] = []
    with pytest.raises(ProviderError):
        await collect(llm, asynchronous, got)
    assert got == ["one ", "two ", "three "]
    [line] = lines(tmp_path)
    assert (line["status"], line["stream"], line["cost_source"]) == ("error", "broken", "estimate")
    assert line["tokens_out"] == count_tokens("one two three ", model="openai/gpt-4o-mini")
    assert line["tokens_in"] > 0
    assert line["cost_usd"] == pytest.approx(line["tokens_in"] * 0.15e-6 + line["tokens_out"] * 0.6e-6)
    day = llm.spend().day
    assert day is not None
    assert (day.spent_usd, day.reserved_usd) == (pytest.approx(line["cost_usd"]), 0.0)
    assert llm.usage_stats()["total"]["cost_usd"] == pytest.approx(line["cost_usd"])


async def test_a_stream_that_fails_before_any_text_costs_nothing(tmp_path: Path, fake: FakeProvider) -> None:
    fake.fail(500, times=None)
    llm = make(tmp_path, fake)
    with pytest.raises(ProviderError):
        async for _ in llm.astream("hi", model="mini", max_tokens=100):
            pass
    [line] = lines(tmp_path)
    assert (line["status"], line["cost_usd"], line["cost_source"]) == ("error", 0.0, "none")
    assert "stream" not in line
    day = llm.spend().day
    assert day is not None
    assert (day.spent_usd, day.reserved_usd) == (0.0, 0.0)


OCR = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY:-k}}", api_base: "{base}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
  gpt4o: {{model: openai/gpt-4o}}
presets:
  vision: {{fast: mini, balanced: mini, best: mini}}
ocr: {{fallback: [gpt4o]}}
router: {{num_retries: 0, timeout_s: 10}}
cache: {{dir: cache}}
budgets:
  per_request_usd: 0.005
"""


def test_ocrs_own_fallbacks_count_in_its_worst_case(tmp_path: Path, fake: FakeProvider) -> None:
    """OCR may fall back to ``ocr.fallback`` (gpt4o here, ~17x dearer than mini): the worst case must
    be gpt4o's. It was mini's alone, so a page that mini failed was read by gpt4o for $0.0125
    under a per_request_usd of $0.005."""
    fake.fail(500, model="gpt-4o-mini", times=None)
    fake.reply("text", tokens_in=1000, tokens_out=1000)
    (tmp_path / "llm_config.yaml").write_text(OCR.format(base=fake.base_url))
    llm = LLM(load_config(tmp_path / "llm_config.yaml"))
    with pytest.raises(BudgetExceededError) as caught:
        llm.ocr(png(64, 64), model="mini", max_tokens=1000)
    assert caught.value.limit_name == "per_request_usd"
    assert "gpt4o" in caught.value.basis
    assert fake.requests == []
    fake.clear()
    fake.reply("a red square", tokens_in=1000, tokens_out=1000)
    vision = llm.vision(png(64, 64), "what is it?", model="mini", max_tokens=1000)
    assert vision.alias == "mini"  # vision does not take OCR's fallbacks: mini's own estimate fits


class City(BaseModel):
    name: str


def test_every_extract_attempt_is_paid_and_counted(tmp_path: Path, fake: FakeProvider) -> None:
    """Structured output asks again after an invalid answer: each attempt is a paid call. The result's
    cost is their sum, and the budget and the cost log hold each, also when extract gives up."""
    fake.reply("not json", times=1, tokens_in=10, tokens_out=20)
    fake.reply('{"name": "Paris"}', times=1, tokens_in=30, tokens_out=40)
    llm = make(tmp_path, fake)
    result = llm.extract_result("city?", City, model="mini", max_tokens=100, retries=1)
    first, second = (10 * 0.15e-6 + 20 * 0.6e-6), (30 * 0.15e-6 + 40 * 0.6e-6)
    assert (result.attempts, result.cost_usd) == (2, pytest.approx(first + second))
    assert [line["cost_usd"] for line in lines(tmp_path)] == [pytest.approx(first), pytest.approx(second)]
    fake.reply("still not json", tokens_in=10, tokens_out=20)
    with pytest.raises(StructuredOutputError):
        llm.extract("city?", City, model="mini", max_tokens=100, retries=1)
    assert len(lines(tmp_path)) == 4
    day = llm.spend().day
    assert day is not None
    assert (day.spent_usd, day.reserved_usd) == (pytest.approx(3 * first + second), 0.0)


def test_n_answers_are_n_times_the_output_in_the_worst_case(tmp_path: Path, fake: FakeProvider) -> None:
    """``n=10`` asks for ten answers to one prompt: the output is paid ten times. The estimate counted
    one, so a call that may cost $0.10 passed a per_request_usd of $0.05."""
    llm = make(tmp_path, fake, "  per_request_usd: 0.05")
    with pytest.raises(BudgetExceededError) as caught:
        llm.chat("hi", model="gpt4o", max_tokens=1000, n=10)
    tokens_in = llm.count_tokens([{"role": "user", "content": "hi"}], model="gpt4o")
    assert caught.value.estimate_usd == pytest.approx(tokens_in * 2.5e-6 + 10 * 1000 * 10e-6)
    assert "1,000 out x 10 answers (n)" in caught.value.basis
    assert fake.requests == []
    assert llm.chat("hi", model="gpt4o", max_tokens=1000, n=1).text == "ok"  # one answer fits


TIERED = """
providers: {gemini: {api_key: "${GEMINI_API_KEY:-k}"}}
models:
  pro: {model: gemini/gemini-2.5-pro}
  flat: {model: gemini/gemini-2.5-pro, price: {input_per_mtok: 1.25, output_per_mtok: 10}}
budgets: {per_request_usd: 1.0}
"""


def test_a_long_prompt_is_estimated_at_the_models_upper_tier() -> None:
    """gemini-2.5-pro costs twice as much per input token (1.5x per output token) once the prompt is
    over 200k tokens, and the call is settled at those rates: the worst case must use them too, or a
    per_request_usd lets through calls costing up to twice the limit."""
    config = parse_config(TIERED)
    long = [{"role": "user", "content": "word " * 210_000}]
    tokens = count_tokens(long, model="gemini/gemini-2.5-pro")
    assert tokens > 200_000
    entry = price_table()["gemini/gemini-2.5-pro"]
    upper = tokens * entry["input_cost_per_token_above_200k_tokens"]
    upper += 1000 * entry["output_cost_per_token_above_200k_tokens"]
    assert chat_estimate(describe(config, "pro"), long, {"max_tokens": 1000}) == pytest.approx(upper)
    short = [{"role": "user", "content": "word " * 1000}]
    base = count_tokens(short, model="gemini/gemini-2.5-pro") * 1.25e-6 + 1000 * 10e-6
    assert chat_estimate(describe(config, "pro"), short, {"max_tokens": 1000}) == pytest.approx(base)
    flat = tokens * 1.25e-6 + 1000 * 10e-6  # an alias's own price is its price: no table tiers
    assert chat_estimate(describe(config, "flat"), long, {"max_tokens": 1000}) == pytest.approx(flat)


def test_the_priority_service_tier_is_estimated_at_its_own_rates() -> None:
    """``service_tier="priority"`` bills gpt-4o at $4.25/$17 per million (not $2.50/$10), and the
    call is settled at those rates: the worst case must use them too."""
    config = parse_config(
        'providers: {openai: {api_key: "${OPENAI_API_KEY:-k}"}}\nmodels: {o: {model: openai/gpt-4o}}'
    )
    info = describe(config, "o")
    asked = [{"role": "user", "content": "hi"}]
    tokens = count_tokens(asked, model="openai/gpt-4o")
    priority = chat_estimate(info, asked, {"max_tokens": 1000, "service_tier": "priority"})
    assert priority == pytest.approx(tokens * 4.25e-6 + 1000 * 17e-6)
    assert chat_estimate(info, asked, {"max_tokens": 1000}) == pytest.approx(tokens * 2.5e-6 + 1000 * 10e-6)


def test_the_larger_of_max_tokens_and_max_completion_tokens_bounds_the_output() -> None:
    info = describe(parse_config(TIERED), "flat")
    both = chat_estimate(info, [], {"max_tokens": 10, "max_completion_tokens": 5000})
    assert both == chat_estimate(info, [], {"max_tokens": 5000})
    assert chat_estimate(info, [], {"max_completion_tokens": 10, "max_tokens": 5000}) == both


IMAGES = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY:-k}}", api_base: "{base}"}}
models:
  image: {{model: openai/gpt-image-1.5}}
router: {{num_retries: 0, timeout_s: 10}}
cache: {{dir: cache}}
budgets:
  per_request_usd: 0.1
"""


@pytest.mark.parametrize("image_quality", [None, "auto", "high"])
def test_an_image_whose_quality_the_provider_picks_is_reserved_at_the_dearest(
    tmp_path: Path, fake: FakeProvider, image_quality: str | None
) -> None:
    """gpt-image-1.5's table prices 1024x1024 at $0.009 with no quality (its low price) and $0.133
    at high, which ``auto`` may pick: the worst case of an image with no quality asked was $0.009,
    so a per_request_usd of $0.10 let it through."""
    (tmp_path / "llm_config.yaml").write_text(IMAGES.format(base=fake.base_url))
    llm = LLM(load_config(tmp_path / "llm_config.yaml"))
    with pytest.raises(BudgetExceededError) as caught:
        llm.imagine("a cat", model="image", size="1024x1024", image_quality=image_quality)
    assert caught.value.estimate_usd == pytest.approx(0.133)
    assert fake.requests == []
    low = llm.imagine("a cat", model="image", size="1024x1024", image_quality="low", n=2)
    assert low.count == 2  # a quality asked for is its own price: 2 x $0.009 fits
