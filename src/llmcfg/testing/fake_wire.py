"""What every wire format of the fake shares: the recorded request, the scripted answer, and helpers.

FakeProvider answers in three wire formats (OpenAI, Anthropic Messages, Gemini generateContent).
A rule is written once (``fake.reply("Paris", tokens_in=10)``) and each format's module turns the
same :class:`Script` into its own JSON or server-sent events, so a test can switch the provider in
the YAML and keep its scripting.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "RecordedRequest", "Script", "count_words", "png_for", "request_id", "sse"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, as it arrived.

    ``provider`` is the wire format it spoke (``openai``, ``anthropic``, ``gemini``); ``endpoint``
    is what it asked for, named the same for every format: ``chat`` (also Anthropic's messages and
    Gemini's generateContent), ``embeddings``, ``images``, ``models``.
    """

    endpoint: str
    path: str
    model: str
    api_key: str | None
    body: dict[str, Any]
    headers: dict[str, str]
    provider: str = "openai"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as sent: OpenAI and Anthropic ``messages``, Gemini ``contents``."""
        messages: list[dict[str, Any]] = self.body.get("messages", self.body.get("contents", []))
        return messages

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream")) or ":streamGenerateContent" in self.path


@dataclass(frozen=True)
class Script:
    """What to answer with, whatever the wire format (from a rule, or the fake's defaults)."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI format
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached_tokens: int = 0  # input read from the prompt cache
    cache_creation_tokens: int = 0  # input written to the prompt cache (Anthropic)
    reasoning_tokens: int = 0  # output spent thinking
    cost: float | None = None  # OpenRouter's usage.cost
    break_after: int | None = None  # a stream drops the connection after this many text events

    def output_tokens(self) -> int:
        return self.tokens_out if self.tokens_out is not None else max(1, len(self.text.split()))

    def input_tokens(self, *parts: Any) -> int:
        """Scripted, or 3 + the words of everything the request sent (a deterministic tokenizer)."""
        return self.tokens_in if self.tokens_in is not None else 3 + count_words(list(parts))

    def tools(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, name, arguments) of each scripted tool call."""
        calls = []
        for index, call in enumerate(self.tool_calls):
            function = call.get("function", call)
            raw = function.get("arguments", function.get("input", {}))
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
            calls.append((str(call.get("id") or f"call_{index}"), str(function["name"]), arguments))
        return calls


@dataclass(frozen=True)
class Event:
    """One server-sent event of a stream; ``text`` marks those that carry answer text."""

    data: bytes
    text: bool = False


def sse(payload: dict[str, Any], *, event: str | None = None, text: bool = False) -> Event:
    head = f"event: {event}\n".encode() if event else b""
    return Event(head + b"data: " + json.dumps(payload).encode() + b"\n\n", text)


def split_keep_spaces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]


def count_words(value: Any) -> int:
    """Whitespace words of every text part, in any of the three formats."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        if "parts" in value:
            return count_words(value["parts"])
        return count_words(value.get("content", value.get("text", "")))
    return 0


def request_id(request: RecordedRequest) -> str:
    return "fake-" + hashlib.sha256(json.dumps(request.body, sort_keys=True).encode()).hexdigest()[:12]


def png_for(name: str) -> bytes:
    """A small real PNG whose colour depends on ``name``, so different images differ."""
    from PIL import Image

    colour = tuple(hashlib.sha256(name.encode()).digest()[:3])
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()
