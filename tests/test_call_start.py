"""The first steps of every call (calls/core.py), one fast case each: which alias a request resolves
to, what a call refused before sending says and records, the messages built, and what a cache hit
reports. Real LiteLLM over HTTP to FakeProvider where anything is sent.

Written for the ``core`` mutation group: the protocol tests check that these steps happen for every
kind of call, not the messages, the requested names or the fields they produce.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, CapabilityError, UnknownAliasError, load_config
from llmcfg.calls.core import build_messages
from llmcfg.testing import FakeProvider, use_fake
from tests.images import png

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  local: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${LOCAL_KEY:-none}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
  embed: {model: openai/text-embedding-3-small}
  blind: {model: local/text-only, price: {input_per_mtok: 1, output_per_mtok: 2}}
presets:
  text: {fast: mini, balanced: mini}
  vision: {fast: mini, balanced: gpt4o, best: gpt4o}
ocr:
  presets: {best: mini}
fallbacks:
  gpt4o: [mini]
router: {num_retries: 0, timeout_s: 10, cooldown_s: 0, allowed_fails: 100}
cache: {dir: cache, text: true}
"""


@pytest.fixture
def app(fake: FakeProvider, tmp_path: Path) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return LLM(use_fake(load_config(path), fake))


def call_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "llm.call"]


# -- resolving ------------------------------------------------------------------------------------
def test_a_quality_resolves_to_its_preset_and_balanced_is_the_default(app: LLM) -> None:
    assert app.resolve("text", quality="fast") == ("mini", "text/fast")
    assert app.resolve("text") == ("mini", "text/balanced")
    assert app.resolve("vision", quality="best") == ("gpt4o", "vision/best")
    assert app.resolve("text", model="gpt4o", quality="fast") == ("gpt4o", "gpt4o")  # an alias wins


def test_ocr_uses_its_own_presets_then_the_vision_presets(app: LLM) -> None:
    assert app.resolve("ocr", quality="best") == ("mini", "ocr/best")  # ocr.presets.best
    assert app.resolve("ocr", quality="balanced") == ("gpt4o", "ocr/balanced")  # presets.vision.balanced


def test_ocr_without_presets_of_its_own_uses_the_vision_presets(fake: FakeProvider, tmp_path: Path) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG).replace("ocr:\n  presets: {best: mini}\n", ""))
    app = LLM(use_fake(load_config(path), fake))
    assert app.resolve("ocr", quality="best") == ("gpt4o", "ocr/best")


def test_an_unknown_quality_and_a_missing_preset_say_what_to_do(app: LLM) -> None:
    with pytest.raises(UnknownAliasError) as caught:
        app.resolve("text", quality="balancd")
    assert (
        str(caught.value)
        == "unknown quality 'balancd' (did you mean 'balanced'?); use fast, balanced or best"
    )
    with pytest.raises(UnknownAliasError) as caught:
        app.resolve("text", quality="best")
    assert str(caught.value) == "no preset presets.text.best in the config; add it or pass model="
    with pytest.raises(UnknownAliasError) as caught:
        app.resolve("image", quality="fast")
    assert str(caught.value) == "no preset presets.image.fast in the config; add it or pass model="


# -- refused before sending -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("how", "requested"),
    [({"quality": "best"}, "text/best"), ({}, "text/balanced"), ({"model": "nope"}, "nope")],
    ids=["quality", "default-quality", "alias"],
)
def test_a_request_that_resolves_to_nothing_is_recorded_as_asked(
    fake: FakeProvider,
    tmp_path: Path,
    events: list[dict[str, Any]],
    how: dict[str, Any],
    requested: str,
) -> None:
    """Without a balanced text preset the default quality resolves to nothing: the event still
    names what was asked (the default quality included), with a request id and its own timing."""
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        textwrap.dedent(CONFIG).replace("text: {fast: mini, balanced: mini}", "text: {fast: mini}")
    )
    app = LLM(use_fake(load_config(path), fake))
    with pytest.raises(UnknownAliasError):
        app.chat("hi", **how)
    [event] = call_events(events)
    assert (event["kind"], event["requested"], event["status"], event["error"]) == (
        "chat",
        requested,
        "error",
        "UnknownAliasError",
    )
    assert (event["alias"], event["model"], event["provider"]) == (None, None, None)
    assert len(event["request_id"]) == 32
    int(event["request_id"], 16)
    assert 0 <= event["latency_ms"] < 10_000  # timed from this call's start, not from the clock's zero
    assert fake.requests == []


def test_a_chat_on_an_embedding_alias_is_refused_with_what_each_needs(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    with pytest.raises(CapabilityError) as caught:
        app.chat("hi", model="embed")
    assert str(caught.value) == (
        "alias 'embed' (openai/text-embedding-3-small) has mode embedding; chat needs chat "
        "(set mode: on the alias if LiteLLM's table is wrong)"
    )
    with pytest.raises(CapabilityError, match=r"has mode embedding; ocr needs chat or ocr \("):
        app.ocr(png(40, 30), model="embed")
    assert [(e["requested"], e["error"]) for e in call_events(events)] == [
        ("embed", "CapabilityError"),
        ("embed", "CapabilityError"),
    ]
    assert fake.requests == []


def test_an_image_for_an_alias_that_cannot_see_is_refused_saying_what_to_do(
    app: LLM, fake: FakeProvider
) -> None:
    with pytest.raises(CapabilityError) as caught:
        app.vision(png(40, 30), "what is it?", model="blind")
    assert str(caught.value) == (
        "alias 'blind' (openai/text-only) does not accept images; "
        "pick a vision alias, or set vision: true on it if LiteLLM's table is wrong"
    )
    assert fake.requests == []


# -- messages ---------------------------------------------------------------------------------------
def test_messages_are_built_from_a_prompt_or_a_list_never_both() -> None:
    assert build_messages("hi", None, None) == [{"role": "user", "content": "hi"}]
    given = [{"role": "user", "content": "hi"}]
    built = build_messages(None, given, "be brief")
    assert built == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert given == [{"role": "user", "content": "hi"}]  # the caller's list is left alone
    message = "pass either a prompt or messages=[...], not both and not neither"
    with pytest.raises(TypeError) as caught:
        build_messages("hi", given, None)
    assert str(caught.value) == message
    with pytest.raises(TypeError) as caught:
        build_messages(None, None, "be brief")
    assert str(caught.value) == message


# -- a cache hit ------------------------------------------------------------------------------------
def test_a_cache_hit_is_this_calls_own_result(
    app: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    """The answer comes from the cache; who asked, how, when and what was tried are this call's."""
    fake.fail(500, model="gpt-4o", times=1)
    fake.reply("cached answer", tokens_in=100, tokens_out=10)
    first = app.chat("hi", quality="balanced", model="gpt4o")
    assert (first.alias, first.fallbacks_tried) == ("mini", ("gpt4o",))
    hit = app.chat("hi", model="gpt4o")
    assert len(fake.requests) == 2  # the failed try and the first answer
    assert (hit.text, hit.cached, hit.cost_usd) == ("cached answer", True, 0.0)
    assert hit.saved_usd == pytest.approx(first.cost_usd)
    assert (hit.requested, hit.fallbacks_tried, hit.skipped) == ("gpt4o", (), {})
    assert hit.request_id != first.request_id
    assert 0 <= hit.latency_ms < first.latency_ms
    _, hit_event = call_events(events)
    assert hit_event["request_id"] == hit.request_id
    assert (hit_event["cached"], hit_event["fallbacks_tried"]) == (True, [])


def test_a_cache_entry_llmcfg_did_not_write_is_a_miss(app: LLM, fake: FakeProvider) -> None:
    fake.reply("first", tokens_in=10, tokens_out=1, times=1)
    app.chat("hi", model="mini")
    store = app.caches._store("responses")  # type: ignore[union-attr]
    [key] = list(store.iterkeys())
    app.caches.put_response(key, {"not": "a result"})
    fake.reply("second", tokens_in=10, tokens_out=1, times=1)
    result = app.chat("hi", model="mini")
    assert (result.text, result.cached) == ("second", False)
    assert app.chat("hi", model="mini").cached  # the new answer was stored in its place


# -- the object -------------------------------------------------------------------------------------
def test_repr_names_the_config_and_its_aliases(app: LLM) -> None:
    assert repr(app) == f"LLM(config={app.config.source!r}, aliases=['mini', 'gpt4o', 'embed', 'blind'])"


def test_without_budgets_spend_is_empty(app: LLM) -> None:
    assert dict(app.spend()) == {}
