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
