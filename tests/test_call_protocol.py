"""The call protocol's invariants, each one test parametrised over EVERY kind of call, sync and async.

A new kind added to ``KINDS`` gets every invariant for free: one ``llm.call`` event per call, a
failure releases the budget reservation, a cache hit emits a ``cached`` event with ``saved_usd``,
and the key never reaches any output (results, events, the cost log, error text with its chain).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmcfg
from llmcfg import LLM, load_config
from llmcfg.calls.hooks import CallHook
from llmcfg.testing import FakeProvider, use_fake
from tests.images import png

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
models:
  mini: {model: openai/gpt-4o-mini}
  embed: {model: openai/text-embedding-3-small}
  dalle2: {model: openai/dall-e-2, mode: image_generation, price: {per_image: 0.02}}
presets:
  text: {fast: mini}
  vision: {fast: mini}
  embedding: {fast: embed}
  image: {fast: dalle2}
router: {num_retries: 0, timeout_s: 10}
logging: {cost_log: costs.jsonl}
cache: {dir: cache, text: true, images_generated: true}
budgets: {daily_usd: 100}
"""
SECRET = "SECRETabcdef0123456789"  # no sk- prefix: scrubbing must not rely on the key's shape
ANSWER = '{"city": "Paris"}'  # valid for every kind: text, and the structured-output schema


class City(BaseModel):
    city: str


def _stream(llm: LLM, image: bytes, how: dict[str, Any]) -> Any:
    stream = llm.stream("hi", **how)
    assert "".join(stream)
    return stream.result


async def _astream(llm: LLM, image: bytes, how: dict[str, Any]) -> Any:
    stream = llm.astream("hi", **how)
    assert "".join([delta async for delta in stream])
    return stream.result


def _with_image(image: bytes) -> list[dict[str, Any]]:
    """A chat message with the image as a data: URL part (checked by llmcfg's message intake)."""
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    return [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": url}]}
    ]


def _stream_image(llm: LLM, image: bytes, how: dict[str, Any]) -> Any:
    stream = llm.stream(messages=_with_image(image), **how)
    assert "".join(stream)
    return stream.result


async def _astream_image(llm: LLM, image: bytes, how: dict[str, Any]) -> Any:
    stream = llm.astream(messages=_with_image(image), **how)
    assert "".join([delta async for delta in stream])
    return stream.result


Caller = Callable[[LLM, bytes, dict[str, Any]], Any]
# name -> (call it with an image and model=/quality=, its alias, its preset, cached by this config?).
# Async kinds return a coroutine.
KINDS: dict[str, tuple[Caller, str, str, bool]] = {
    "chat": (lambda llm, image, how: llm.chat("hi", **how), "mini", "text", True),
    "achat": (lambda llm, image, how: llm.achat("hi", **how), "mini", "text", True),
    "stream": (_stream, "mini", "text", False),
    "astream": (_astream, "mini", "text", False),
    "vision": (lambda llm, image, how: llm.vision(image, "what is it?", **how), "mini", "vision", True),
    "avision": (lambda llm, image, how: llm.avision(image, "what is it?", **how), "mini", "vision", True),
    "ocr": (lambda llm, image, how: llm.ocr(image, **how), "mini", "ocr", True),
    "aocr": (lambda llm, image, how: llm.aocr(image, **how), "mini", "ocr", True),
    "embed": (lambda llm, image, how: llm.embed("hi", **how), "embed", "embedding", True),
    "aembed": (lambda llm, image, how: llm.aembed("hi", **how), "embed", "embedding", True),
    "extract": (
        lambda llm, image, how: llm.extract_result("where?", City, retries=0, **how),
        "mini",
        "text",
        True,
    ),
    "aextract": (
        lambda llm, image, how: llm.aextract_result("where?", City, retries=0, **how),
        "mini",
        "text",
        True,
    ),
    "chat-image": (
        lambda llm, image, how: llm.chat(messages=_with_image(image), **how),
        "mini",
        "text",
        True,
    ),
    "achat-image": (
        lambda llm, image, how: llm.achat(messages=_with_image(image), **how),
        "mini",
        "text",
        True,
    ),
    "stream-image": (_stream_image, "mini", "text", False),
    "astream-image": (_astream_image, "mini", "text", False),
    "imagine": (lambda llm, image, how: llm.imagine("a red square", **how), "dalle2", "image", True),
    "aimagine": (lambda llm, image, how: llm.aimagine("a red square", **how), "dalle2", "image", True),
}
CACHED_KINDS = [name for name, (*_, cached) in KINDS.items() if cached]
# Kinds whose input is checked before anything is sent, and a call of each with a bad input.
BAD_INPUT: dict[str, tuple[Caller, type[Exception]]] = {
    "vision": (lambda llm, image, how: llm.vision(b"not an image", "?", **how), llmcfg.NotAnImageError),
    "avision": (lambda llm, image, how: llm.avision(b"not an image", "?", **how), llmcfg.NotAnImageError),
    "ocr": (lambda llm, image, how: llm.ocr(b"not an image", **how), llmcfg.NotAnImageError),
    "aocr": (lambda llm, image, how: llm.aocr(b"not an image", **how), llmcfg.NotAnImageError),
    "chat-image": (
        lambda llm, image, how: llm.chat(messages=_with_image(b"not an image"), **how),
        llmcfg.NotAnImageError,
    ),
    "achat-image": (
        lambda llm, image, how: llm.achat(messages=_with_image(b"not an image"), **how),
        llmcfg.NotAnImageError,
    ),
    "stream-image": (
        lambda llm, image, how: _stream_image(llm, b"not an image", how),
        llmcfg.NotAnImageError,
    ),
    "astream-image": (
        lambda llm, image, how: _astream_image(llm, b"not an image", how),
        llmcfg.NotAnImageError,
    ),
    "imagine": (lambda llm, image, how: llm.imagine("x", size="1x1", **how), llmcfg.CapabilityError),
    "aimagine": (lambda llm, image, how: llm.aimagine("x", size="1x1", **how), llmcfg.CapabilityError),
}


async def run(kind: str, llm: LLM, *, fresh: bool = False, caller: Caller | None = None, **how: Any) -> Any:
    """Make one call of ``kind`` (to its alias unless ``how`` says ``quality=``); ``fresh``: empty
    the caches first, so it reaches the provider."""
    if fresh:
        llm.caches.clear()
    outcome = (caller or KINDS[kind][0])(llm, png(40, 30), how or {"model": KINDS[kind][1]})
    return await outcome if inspect.isawaitable(outcome) else outcome


def failing(fake: FakeProvider, status: int, message: str = "injected failure") -> None:
    """From now on every request fails (the permanent reply rule is dropped first)."""
    fake.clear()
    fake.fail(status, message=message, times=None)


def calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == "llm.call"]


@pytest.fixture
def make_llm(write_config: Callable[[str], Path], fake: FakeProvider) -> Callable[..., LLM]:
    def make(**kwargs: Any) -> LLM:
        fake.reply(ANSWER, tokens_in=10, tokens_out=5)
        keep = kwargs.pop("keep_keys", False)
        return LLM(use_fake(load_config(write_config(CONFIG)), fake, keep_keys=keep, isolate=False), **kwargs)

    return make


def reserved(llm: LLM) -> list[float | None]:
    return [row["reserved_usd"] for row in llm.spend().values()]


def spent_today(llm: LLM) -> float | None:
    [row] = [row for key, row in llm.spend().items() if key.startswith("total:day")]
    return row["spent_usd"]


@pytest.mark.parametrize("kind", KINDS)
async def test_one_event_per_call_success_and_failure(
    kind: str, make_llm: Callable[..., LLM], fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    llm = make_llm()
    result = await run(kind, llm)
    [event] = calls(events)
    assert event["status"] == "ok"
    assert event["request_id"] == result.request_id
    if isinstance(result, llmcfg.ImageResult):  # what image generation adds to its event
        assert (event["images"], event["size"], event["quality"]) == (1, result.size, result.quality)
    failing(fake, 500)
    with pytest.raises(llmcfg.ProviderError):
        await run(kind, llm, fresh=True)
    assert [e["status"] for e in calls(events)] == ["ok", "error"]


@pytest.mark.parametrize("kind", KINDS)
async def test_failure_releases_the_budget_reservation(
    kind: str, make_llm: Callable[..., LLM], fake: FakeProvider
) -> None:
    llm = make_llm()
    await run(kind, llm)
    spent = spent_today(llm)
    assert spent is not None
    assert spent > 0  # the call was reserved and settled: the budget really is in play
    assert set(reserved(llm)) == {0.0}
    failing(fake, 500)
    with pytest.raises(llmcfg.ProviderError):
        await run(kind, llm, fresh=True)
    assert set(reserved(llm)) == {0.0}
    assert spent_today(llm) == spent


@pytest.mark.parametrize("kind", CACHED_KINDS)
async def test_cache_hit_emits_a_cached_event_with_what_it_saved(
    kind: str, make_llm: Callable[..., LLM], fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    llm = make_llm()
    first = await run(kind, llm)
    sent = len(fake.requests)
    second = await run(kind, llm)
    assert len(fake.requests) == sent  # nothing went out
    assert second.cached
    assert first.cost_usd
    assert second.saved_usd == pytest.approx(first.cost_usd)
    assert second.cost_usd == 0.0
    miss, hit = calls(events)
    assert (miss["cached"], hit["cached"]) == (False, True)
    assert hit["saved_usd"] == pytest.approx(first.cost_usd)
    assert (hit["cost_usd"], hit["tokens_in"], hit["tokens_out"]) == (0.0, 0, 0)
    assert set(reserved(llm)) == {0.0}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_key_never_reaches_any_output(
    kind: str,
    make_llm: Callable[..., LLM],
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    events: list[dict[str, Any]],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    llm = make_llm(keep_keys=True)
    result = await run(kind, llm)
    assert fake.requests[-1].api_key == SECRET  # it was really used
    failing(fake, 401, f"Incorrect API key provided: {SECRET}")
    with pytest.raises(llmcfg.AuthenticationError) as caught:
        await run(kind, llm, fresh=True)
    assert llm.config.source is not None
    written = capsys.readouterr()
    outputs = {
        "result": repr(result),
        "error": str(caught.value) + repr(caught.value),
        "traceback": "".join(traceback.format_exception(caught.value)),
        "events": json.dumps(events, default=str),
        "cost log": (Path(llm.config.source).parent / "costs.jsonl").read_text(),
        "stdout+stderr": written.out + written.err,
        "llm": repr(llm),
    }
    leaked = [where for where, text in outputs.items() if SECRET in text or "SECRET" in text]
    assert leaked == []


class Recorder(CallHook):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, call: Any) -> None:
        self.seen.append(("started", call.request_id))

    def before_send(self, call: Any) -> float:
        self.seen.append(("before_send", call.request_id))
        return 0.2  # a rate limit's wait: part of the call's latency

    def finished(self, call: Any, event: dict[str, Any]) -> None:
        self.seen.append(("finished", event["request_id"]))


@pytest.mark.parametrize("kind", KINDS)
async def test_hooks_see_every_call_once(kind: str, make_llm: Callable[..., LLM]) -> None:
    hook = Recorder()
    llm = make_llm(hooks=[hook])
    result = await run(kind, llm)
    rid = result.request_id
    assert hook.seen == [("started", rid), ("before_send", rid), ("finished", rid)]
    assert result.latency_ms >= 200  # the wait really happened (a lower bound: no timing target)


async def test_a_cancelled_call_releases_its_reservation_and_is_recorded(
    make_llm: Callable[..., LLM], fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    llm = make_llm()
    fake.clear()
    fake.delay(5, times=None)
    task = asyncio.create_task(llm.achat("hi", model="mini"))
    while not fake.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(reserved(llm)) == {0.0}
    [event] = calls(events)
    assert (event["status"], event["error"]) == ("error", "CancelledError")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["stream", "astream"])
async def test_an_abandoned_stream_is_closed_settled_and_recorded_once(
    asynchronous: bool, make_llm: Callable[..., LLM], fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    llm = make_llm()
    fake.clear()
    fake.reply("a b c d e f g")
    if asynchronous:
        astream = llm.astream("letters", model="mini")
        async for delta in astream:
            assert delta == "a "
            break
        await astream.aclose()
        raw = astream._state.raw
    else:
        stream = llm.stream("letters", model="mini")
        for delta in stream:
            assert delta == "a "
            break
        raw = stream._state.raw
    assert raw.completion_stream is None  # LiteLLM's stream was closed: its connection is released
    [event] = calls(events)
    assert (event["status"], event["stream"], event["cost_source"]) == ("ok", "abandoned", "estimate")
    assert set(reserved(llm)) == {0.0}
    assert spent_today(llm) == pytest.approx(event["cost_usd"])


@pytest.mark.parametrize("kind", KINDS)
async def test_a_call_by_quality_resolves_the_kinds_preset(
    kind: str, make_llm: Callable[..., LLM], events: list[dict[str, Any]]
) -> None:
    _, alias, preset, _ = KINDS[kind]
    result = await run(kind, make_llm(), quality="fast")
    assert (result.alias, result.requested) == (alias, f"{preset}/fast")
    [event] = calls(events)
    assert (event["alias"], event["requested"]) == (alias, f"{preset}/fast")


@pytest.mark.parametrize("kind", BAD_INPUT)
async def test_a_bad_input_fails_before_sending_with_one_event_and_no_reservation(
    kind: str, make_llm: Callable[..., LLM], fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    llm = make_llm()
    caller, error = BAD_INPUT[kind]
    with pytest.raises(error):
        await run(kind, llm, caller=caller)
    assert fake.requests == []
    [event] = calls(events)
    assert (event["status"], event["error"], event["alias"]) == ("error", error.__name__, KINDS[kind][1])
    assert set(reserved(llm)) == {0.0}
