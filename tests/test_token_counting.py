"""``count_tokens`` keeps each model's counting set-up between calls (the budget counts every prompt
before it is sent): its answers must stay exactly ``litellm.token_counter``'s."""

from __future__ import annotations

from typing import Any

import pytest

from llmcfg.routing import counting
from llmcfg.routing.counting import count_tokens

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
    "awAAAABJRU5ErkJggg=="
)
MESSAGES: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "hello there"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi", "name": "bob"}],
    [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is it"},
                {"type": "image_url", "image_url": {"url": PIXEL}},
            ],
        }
    ],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}],
    [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "42"},
    ],
    [{"role": "user", "content": "é" * 5000}],
]
MODELS = [
    "openai/gpt-4o-mini",
    "gpt-3.5-turbo",
    "anthropic/claude-3-5-sonnet-20241022",
    "gemini/gemini-1.5-pro",
]


@pytest.mark.parametrize("model", MODELS)
def test_counts_are_litellm_s_token_counter_s(model: str) -> None:
    import litellm

    for messages in MESSAGES:
        remote = counting._remote_images(messages)
        expected = litellm.token_counter(model=model, messages=messages, use_default_image_token_count=remote)
        assert count_tokens(messages, model=model) == expected, messages
        assert count_tokens(messages, model=model) == expected  # the kept set-up counts the same


def test_a_switched_off_counter_is_obeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    import litellm

    monkeypatch.setattr(litellm, "disable_token_counter", True)
    assert count_tokens(MESSAGES[0], model="openai/gpt-4o-mini") == 0
