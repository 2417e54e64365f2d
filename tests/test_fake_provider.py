"""FakeProvider's scripted faults, seen through the real LiteLLM client, map to llmcfg's errors."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

import llmcfg
from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC

SLOW = BASIC.replace("timeout_s: 5", "timeout_s: 0.5")


@pytest.fixture
def solo(write_config: Any, fake: FakeProvider) -> LLM:
    """No fallbacks, no retries: each fault surfaces as it is."""
    text = (
        BASIC.split("fallbacks:")[0]
        + "router: {num_retries: 0, timeout_s: 1, cooldown_s: 0, allowed_fails: 100}\n"
    )
    return LLM(use_fake(load_config(write_config(text)), fake))


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (lambda f: f.fail(429, retry_after=7), llmcfg.RateLimitError),
        (lambda f: f.fail(500), llmcfg.ProviderUnavailableError),
        (lambda f: f.fail(503), llmcfg.ProviderUnavailableError),
        (lambda f: f.fail(401), llmcfg.AuthenticationError),
        (lambda f: f.fail(400), llmcfg.InvalidRequestError),
        (lambda f: f.garbage(), llmcfg.ProviderUnavailableError),
        (lambda f: f.reset_connection(), llmcfg.ProviderUnavailableError),
        (lambda f: f.delay(3), llmcfg.ProviderTimeoutError),
    ],
)
def test_faults_surface_as_typed_errors(
    solo: LLM, fake: FakeProvider, script: Any, error: type[Exception]
) -> None:
    script(fake)
    with pytest.raises(error) as caught:
        solo.chat("hi", model="mini")
    assert caught.value.__cause__ is not None
    assert isinstance(caught.value, llmcfg.ProviderError)
    assert caught.value.alias == "mini"


def test_rate_limit_carries_retry_after(solo: LLM, fake: FakeProvider) -> None:
    fake.fail(429, retry_after=7)
    with pytest.raises(llmcfg.RateLimitError) as caught:
        solo.chat("hi", model="mini")
    assert caught.value.retry_after == 7


def test_wire_level_faults() -> None:
    with FakeProvider() as fake:
        fake.fail(429, retry_after=2)
        fake.garbage(b"not json")
        fake.delay(0.3)
        url = fake.base_url + "/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "a b c"}]}
        first = httpx.post(url, json=body)
        assert (first.status_code, first.headers["retry-after"]) == (429, "2")
        assert httpx.post(url, json=body).text == "not json"
        start = time.perf_counter()
        answer = httpx.post(url, json=body).json()
        assert time.perf_counter() - start >= 0.3
        assert answer["usage"] == {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7}
        fake.reset_connection()
        with pytest.raises(httpx.TransportError):
            httpx.post(url, json=body)
        assert [r.endpoint for r in fake.requests] == ["chat"] * 4


def test_streaming_embeddings_and_images_speak_openai() -> None:
    with FakeProvider() as fake:
        fake.reply("one two three")
        stream = {
            "model": "m",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "x"}],
        }
        with httpx.stream("POST", fake.base_url + "/chat/completions", json=stream) as response:
            chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
        assert (
            "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
            == "one two three"
        )
        assert chunks[-1]["usage"]["completion_tokens"] == 3
        vectors = httpx.post(fake.base_url + "/embeddings", json={"model": "e", "input": ["a", "b"]}).json()
        assert len(vectors["data"]) == 2
        images = httpx.post(
            fake.base_url + "/images/generations", json={"model": "i", "prompt": "p", "n": 2}
        ).json()
        assert len(images["data"]) == 2
        png = httpx.get(images["data"][0]["url"])
        assert png.content.startswith(b"\x89PNG")


def test_per_model_rules_and_times(fake: FakeProvider) -> None:
    fake.reply("for big", model="gpt-4o", times=1)
    fake.reply("default rule")
    url = fake.base_url + "/chat/completions"
    texts = [
        httpx.post(url, json={"model": m, "messages": []}).json()["choices"][0]["message"]["content"]
        for m in ("gpt-4o", "gpt-4o", "x")
    ]
    assert texts == ["for big", "default rule", "default rule"]
    assert len(fake.requests_for("gpt-4o")) == 2


def test_queued_rules_come_before_standing_ones(fake: FakeProvider) -> None:
    """A fault added after a standing reply still fires (it is queued), then the reply stands."""
    fake.reply("Paris")
    fake.fail(429, model="gpt-4o")
    fake.reply("once", times=1)
    url = fake.base_url + "/chat/completions"
    answers = [httpx.post(url, json={"model": "gpt-4o", "messages": []}) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 200, 200, 200]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers[1:]] == ["once", "Paris", "Paris"]


def test_standing_delay_slows_every_request_and_queued_delay_one(fake: FakeProvider) -> None:
    fake.reply("x")
    fake.delay(0.6, times=None, model="slow")
    url = fake.base_url + "/chat/completions"
    with httpx.Client() as client:  # one client: no per-request set-up in the times
        slow = []
        for _ in range(2):
            start = time.perf_counter()
            client.post(url, json={"model": "slow", "messages": []})
            slow.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.post(url, json={"model": "fast", "messages": []})
        fast = time.perf_counter() - start
    assert min(slow) >= 0.6
    # against the slow ones measured alike, not a fixed bound: on a loaded 2-core machine (load ~10)
    # an undelayed request once took longer than 0.6 s on its own
    assert fast < min(slow) - 0.4


def test_openai_n_choices_models_list_and_gpt_image_usage(fake: FakeProvider) -> None:
    fake.reply("hi", model="gpt-4o-mini")
    body = {"model": "gpt-4o-mini", "n": 3, "messages": [{"role": "user", "content": "a"}]}
    answer = httpx.post(fake.base_url + "/chat/completions", json=body).json()
    assert [c["index"] for c in answer["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in answer["choices"]} == {"hi"}
    listed = httpx.get(fake.base_url + "/models").json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["gpt-4o-mini"]
    image = {"model": "gpt-image-1", "prompt": "a cat", "n": 2, "quality": "low", "size": "1024x1024"}
    usage = httpx.post(fake.base_url + "/images/generations", json=image).json()["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (5, 2 * 272)


def test_openai_sdk_parses_the_fake(fake: FakeProvider) -> None:
    import openai

    client = openai.OpenAI(api_key="k", base_url=fake.base_url, max_retries=0)
    fake.reply("", tool_calls=[_TOOL_CALL], times=1)
    fake.reply("one two")
    called = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert called.choices[0].message.tool_calls[0].function.name == "lookup"  # type: ignore[index,union-attr]
    two = client.chat.completions.create(model="m", n=2, messages=[{"role": "user", "content": "x"}])
    assert [c.message.content for c in two.choices] == ["one two", "one two"]
    assert [m.id for m in client.models.list()] == ["m"]
    fake.fail(429, message="slow down", retry_after=1)
    with pytest.raises(openai.RateLimitError, match="slow down"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


_TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'}}


def test_anthropic_sdk_parses_messages_streams_tools_usage_and_errors(fake: FakeProvider) -> None:
    import anthropic

    client = anthropic.Anthropic(api_key="ak", base_url=fake.base_url_for("anthropic"), max_retries=0)
    ask = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    fake.reply("Hello there friend", tokens_in=20, cached_tokens=5, cache_creation_tokens=3)
    message = client.messages.create(**ask)  # type: ignore[call-overload]
    assert message.content[0].text == "Hello there friend"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        12,
        5,
        3,
    )
    with client.messages.stream(**ask) as stream:  # type: ignore[call-overload]
        assert "".join(stream.text_stream) == "Hello there friend"
        assert stream.get_final_message().usage.output_tokens == 3
    fake.reply("", tool_calls=[_TOOL_CALL], times=2)
    called = client.messages.create(**ask)  # type: ignore[call-overload]
    assert (called.stop_reason, called.content[0].name, called.content[0].input) == (
        "tool_use",
        "lookup",
        {"city": "Oslo"},
    )
    with client.messages.stream(**ask) as stream:  # type: ignore[call-overload]
        assert stream.get_final_message().content[0].input == {"city": "Oslo"}
    for status, error in [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ]:
        fake.fail(status, message=f"status {status}")
        with pytest.raises(error, match=f"status {status}"):
            client.messages.create(**ask)  # type: ignore[call-overload]
    assert {(r.provider, r.endpoint, r.path, r.api_key) for r in fake.requests} == {
        ("anthropic", "chat", "/v1/messages", "ak")
    }


def test_gemini_sdk_parses_generate_stream_tools_usage_embeddings_and_errors(fake: FakeProvider) -> None:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key="gk", http_options=types.HttpOptions(base_url=fake.root_url))
    fake.reply("Hello there friend", tokens_in=20, cached_tokens=5, reasoning_tokens=4)
    answer = client.models.generate_content(model="gemini-x", contents="hi there")
    assert answer.text == "Hello there friend"
    usage = answer.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.cached_content_token_count, usage.thoughts_token_count) == (
        20,
        5,
        4,
    )
    assert (usage.candidates_token_count, usage.total_token_count) == (3, 27)
    chunks = list(client.models.generate_content_stream(model="gemini-x", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello there friend"
    assert chunks[-1].usage_metadata is not None
    fake.reply("", tool_calls=[_TOOL_CALL], times=1)
    called = client.models.generate_content(model="gemini-x", contents="weather?")
    assert called.function_calls is not None
    assert (called.function_calls[0].name, called.function_calls[0].args) == ("lookup", {"city": "Oslo"})
    vectors = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert vectors.embeddings is not None
    assert len(vectors.embeddings) == 2
    for status, name in [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (429, "RESOURCE_EXHAUSTED")]:
        fake.fail(status, message=f"status {status}")
        with pytest.raises(errors.ClientError, match=name):
            client.models.generate_content(model="gemini-x", contents="hi")
    for status in (500, 529):
        fake.fail(status)
        with pytest.raises(errors.ServerError):
            client.models.generate_content(model="gemini-x", contents="hi")
    assert {(r.provider, r.model, r.api_key) for r in fake.requests} == {
        ("gemini", "gemini-x", "gk"),
        ("gemini", "gemini-embedding-001", "gk"),
    }
