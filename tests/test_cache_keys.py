"""The response-cache key holds everything that decides the answer: where the call goes (provider,
endpoint, model), what kind of call it is, the content and the parameters. A key missing one of them
serves one request's answer to another; these tests send requests differing in one part only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.cache.encoding import RESPONSE_MAGIC, decode_image, decode_response, encode_image, encode_response
from llmcfg.cache.store import response_key
from llmcfg.ocr.engine import available as ocr_engine_available
from llmcfg.testing import FakeProvider, use_fake
from tests.images import png

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
  other: {kind: openai, api_key: "${OTHER_KEY:-k}"}
models:
  mini: {model: openai/gpt-4o-mini}
  mini-twin: {model: openai/gpt-4o-mini}
  big: {model: openai/gpt-4o}
  mini-elsewhere: {model: other/gpt-4o-mini}
  embed: {model: openai/text-embedding-3-small}
router: {num_retries: 0, timeout_s: 5, cooldown_s: 1, allowed_fails: 100}
logging: {cost_log: costs.jsonl}
"""


@pytest.fixture
def make(write_config: Callable[..., Path]) -> Callable[..., LLM]:
    """An LLM whose cache lives in the test's folder (shared by every LLM the test makes)."""

    def build(fake: FakeProvider, cache: str = "cache: {dir: cache}") -> LLM:
        path = write_config(CONFIG + cache + "\n")
        return LLM(use_fake(load_config(path), fake, isolate=False))

    return build


def test_the_same_request_is_answered_from_the_cache_and_an_alias_name_is_not_part_of_it(
    make: Callable[..., LLM], fake: FakeProvider
) -> None:
    llm = make(fake)
    fake.reply("first", times=1)
    assert not llm.chat("same", model="mini", cache=True).cached
    fake.reply("second", times=1)
    again = llm.chat("same", model="mini-twin", cache=True)  # another name for the same model
    assert (again.cached, again.text) == (True, "first")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"model": "mini"}, {"model": "big"}),  # another model at the same provider
        ({"model": "mini"}, {"model": "mini-elsewhere"}),  # the same model name at another provider
        ({"model": "mini", "temperature": 0.1}, {"model": "mini", "temperature": 0.9}),
        ({"model": "mini"}, {"model": "mini", "max_tokens": 5}),
    ],
)
def test_a_request_differing_in_one_part_is_not_answered_from_the_cache(
    make: Callable[..., LLM], fake: FakeProvider, first: dict[str, Any], second: dict[str, Any]
) -> None:
    llm = make(fake)
    fake.reply("first", times=1)
    llm.chat("same", cache=True, **first)
    fake.reply("second", times=1)
    other = llm.chat("same", cache=True, **second)
    assert (other.cached, other.text) == (False, "second")
    assert len(fake.requests) == 2


def test_another_endpoint_never_gets_this_ones_answer(make: Callable[..., LLM], fake: FakeProvider) -> None:
    """Same provider name, model and request, another api_base (a second fake): a miss."""
    fake.reply("from the first endpoint")
    make(fake).chat("same", model="mini", cache=True)
    with FakeProvider() as elsewhere:
        elsewhere.reply("from the second endpoint")
        result = make(elsewhere).chat("same", model="mini", cache=True)
        assert (result.cached, result.text) == (False, "from the second endpoint")
        assert len(elsewhere.requests) == 1


def test_cache_true_or_false_on_the_call_wins_over_the_config(
    make: Callable[..., LLM], fake: FakeProvider
) -> None:
    llm = make(fake)  # cache.text is off: chat is cached only when asked; embeddings are by default
    fake.reply("x")
    llm.chat("a", model="mini")
    assert not llm.chat("a", model="mini").cached
    assert not llm.chat("a", model="mini", cache=True).cached  # the first two were not remembered
    assert llm.chat("a", model="mini", cache=True).cached
    assert not llm.chat("a", model="mini", cache=False).cached  # a hit exists, but the call said no
    llm.embed("e", model="embed")
    assert llm.embed("e", model="embed").cached
    assert not llm.embed("e", model="embed", cache=False).cached
    assert len(fake.requests) == 6


def test_cache_text_true_caches_chat_by_default(make: Callable[..., LLM], fake: FakeProvider) -> None:
    llm = make(fake, "cache: {dir: cache, text: true}")
    fake.reply("x")
    llm.chat("a", model="mini")
    assert llm.chat("a", model="mini").cached
    assert len(fake.requests) == 1


def test_a_disabled_cache_caches_nothing_even_when_asked(
    make: Callable[..., LLM], fake: FakeProvider
) -> None:
    llm = make(fake, "cache: {enabled: false, dir: cache, text: true}")
    fake.reply("x")
    for _ in range(2):
        assert not llm.chat("a", model="mini", cache=True).cached
        assert not llm.embed("e", model="embed").cached
    assert len(fake.requests) == 4
    assert not (Path(llm.config.cache.dir) / "responses").exists()


def test_the_key_is_a_short_digest_independent_of_argument_order() -> None:
    key = response_key(model=("openai", None, "gpt-4o"), kind="chat", content=["hi"], params={"a": 1, "b": 2})
    assert len(key) == 32
    assert int(key, 16) >= 0  # hexadecimal
    assert "hi" not in key
    assert key == response_key(
        params={"b": 2, "a": 1}, content=["hi"], kind="chat", model=("openai", None, "gpt-4o")
    )
    assert key != response_key(model=("openai", None, "gpt-4o"), kind="chat", content=["hi"], params={"a": 1})
    assert response_key(x=Path("a")) == response_key(x="a")  # values JSON cannot write are taken as text
    assert response_key(x="a b") != response_key(x="a  b")


def test_the_response_encoding_round_trips_and_refuses_anything_else() -> None:
    value = {"text": "héllo ✓", "n": [1, 2.5, None, True]}
    data = encode_response(value)
    assert data.startswith(RESPONSE_MAGIC)
    assert "héllo ✓".encode() in data  # UTF-8, not \\u escapes
    assert b", " not in data  # compact
    assert b": " not in data
    assert decode_response(data) == value
    assert decode_response(data.decode("utf-8")) is None  # only bytes
    assert decode_response(data[1:]) is None
    assert decode_response(RESPONSE_MAGIC + b"[1, 2]") is None  # JSON, but not a dict
    assert decode_response(RESPONSE_MAGIC + b"{bad") is None
    assert decode_response(RESPONSE_MAGIC + b"\xff\xfe") is None
    assert decode_response(RESPONSE_MAGIC + b"[" * 100_000 + b"]" * 100_000) is None
    assert decode_response(None) is None


def test_the_image_encoding_is_the_bytes_themselves() -> None:
    assert encode_image(bytearray(b"\x89PNG")) == b"\x89PNG"
    assert type(encode_image(bytearray(b"x"))) is bytes
    assert decode_image(b"\x89PNG") == b"\x89PNG"
    assert decode_image(b"") is None  # an empty image is a miss
    assert decode_image("text") is None
    assert decode_image(None) is None


def test_a_different_content_is_not_answered_from_the_cache(
    make: Callable[..., LLM], fake: FakeProvider
) -> None:
    llm = make(fake)
    fake.reply("about a", times=1)
    llm.chat("a", model="mini", cache=True)
    fake.reply("about b", times=1)
    other = llm.chat("b", model="mini", cache=True)
    assert (other.cached, other.text) == (False, "about b")
    llm.embed(["x"], model="embed")
    assert not llm.embed(["y"], model="embed").cached


def test_keys_stay_the_same_across_releases() -> None:
    """A cache written by one llmcfg version is read by the next: the canonical form (sorted keys,
    compact separators, unknown types as text, first 32 hex digits of SHA-256) is fixed."""
    parts = {
        "model": ("openai", None, "gpt-4o"),
        "kind": "chat",
        "content": [{"a": 1}],
        "params": {"t": Path("x")},
    }
    canonical = '{"content":[{"a":1}],"kind":"chat","model":["openai",null,"gpt-4o"],"params":{"t":"x"}}'
    assert response_key(**parts) == hashlib.sha256(canonical.encode()).hexdigest()[:32]


@pytest.mark.skipif(not ocr_engine_available(), reason="the ocr-local extra is not installed")
def test_a_local_ocr_reading_is_cached_though_its_provider_is_not_declared(
    write_config: Callable[..., Path],
) -> None:
    """rapidocr is llmcfg's own provider (no providers: entry, so no api_base): its readings are
    cached like any other image call."""
    path = write_config(
        "models:\n  local-ocr: {model: rapidocr/ppocr}\n"
        "ocr:\n  presets: {fast: local-ocr, balanced: local-ocr, best: local-ocr}\n"
        "cache: {dir: cache}\nlogging: {cost_log: costs.jsonl}\n"
    )
    llm = LLM(load_config(path))
    image = png(40, 20, (255, 255, 255))
    first = llm.ocr(image, mode="base", quality="fast")
    second = llm.ocr(image, mode="base", quality="fast")
    assert (first.cached, second.cached, second.text) == (False, True, first.text)
