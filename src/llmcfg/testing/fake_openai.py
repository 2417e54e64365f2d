"""The OpenAI wire format of the fake: chat completions (``n`` choices, SSE streams), embeddings,
image generations (gpt-image answers carry token ``usage`` like the real API), model listing, errors.

Also what OpenRouter and every OpenAI-compatible server (``kind: openai``) speak.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from llmcfg.testing.fake_wire import (
    Event,
    RecordedRequest,
    Script,
    count_words,
    png_for,
    request_id,
    split_keep_spaces,
    sse,
)

__all__ = ["chat", "chat_stream", "embeddings", "endpoint", "error", "images", "models"]

_ENDPOINTS = {"chat/completions": "chat", "embeddings": "embeddings", "images/generations": "images"}

# Output tokens of one gpt-image picture by quality and size (OpenAI's image pricing page).
_IMAGE_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def endpoint(path: str) -> str | None:
    """The endpoint a POST to ``path`` asks for, if it is an OpenAI one (exactly ``/v1/<endpoint>``:
    a doubled ``/v1/v1/`` is a misconfigured base URL and gets a 404, as it would upstream)."""
    clean = path.split("?", 1)[0].rstrip("/")
    return next((name for suffix, name in _ENDPOINTS.items() if clean == f"/v1/{suffix}"), None)


def _usage(request: RecordedRequest, script: Script) -> dict[str, Any]:
    tokens_in = script.input_tokens(request.body.get("messages", []))
    tokens_out = script.output_tokens()
    usage: dict[str, Any] = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    if script.cost is not None:
        usage["cost"] = script.cost
    if script.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": script.cached_tokens}
    if script.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": script.reasoning_tokens}
    return usage


def _tool_calls(script: Script) -> list[dict[str, Any]]:
    return [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        for call_id, name, arguments in script.tools()
    ]


def chat(request: RecordedRequest, script: Script) -> dict[str, Any]:
    """A chat.completion with ``n`` identical choices (the request's ``n``, default 1)."""
    message: dict[str, Any] = {"role": "assistant", "content": script.text}
    finish = "stop"
    if script.tool_calls:
        message["tool_calls"] = _tool_calls(script)
        finish = "tool_calls"
    count = max(1, int(request.body.get("n") or 1))
    return {
        "id": request_id(request),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": i, "message": dict(message), "finish_reason": finish} for i in range(count)],
        "usage": _usage(request, script),
    }


def chat_stream(request: RecordedRequest, script: Script) -> list[Event]:
    whole = chat(request, script)
    base = {"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"]}
    base["model"] = whole["model"]
    events = []
    for index, piece in enumerate(split_keep_spaces(script.text) or [""]):
        delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
        events.append(
            sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}, text=True)
        )
    for index, call in enumerate(_tool_calls(script)):
        call_delta: dict[str, Any] = {"tool_calls": [{"index": index, **call}]}
        events.append(sse({**base, "choices": [{"index": 0, "delta": call_delta, "finish_reason": None}]}))
    finish = whole["choices"][0]["finish_reason"]
    events.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    if (request.body.get("stream_options") or {}).get("include_usage"):
        events.append(sse({**base, "choices": [], "usage": whole["usage"]}))
    events.append(Event(b"data: [DONE]\n\n"))
    return events


def embeddings(request: RecordedRequest) -> dict[str, Any]:
    raw = request.body.get("input", [])
    texts = [raw] if isinstance(raw, str) else list(raw)
    data = [{"object": "embedding", "index": i, "embedding": vector(str(t))} for i, t in enumerate(texts)]
    tokens = count_words(texts)
    return {
        "object": "list",
        "model": request.model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def vector(text: str) -> list[float]:
    """A deterministic 8-dimensional embedding of ``text``."""
    return [b / 255 for b in hashlib.sha256(text.encode()).digest()[:8]]


def images(request: RecordedRequest, files_url: str) -> dict[str, Any]:
    """URLs to PNGs the fake serves, or base64 when asked (and for gpt-image, which only does that,
    with token usage as the real API reports it)."""
    count = int(request.body.get("n") or 1)
    name = request_id(request)
    gpt_image = request.model.startswith("gpt-image")
    items: list[dict[str, Any]] = []
    for index in range(count):
        file_name = f"{name}-{index}.png"
        item: dict[str, Any] = {"revised_prompt": request.body.get("prompt")}
        if request.body.get("response_format") == "b64_json" or gpt_image:
            item["b64_json"] = base64.b64encode(png_for(file_name)).decode()
        else:
            item["url"] = f"{files_url}/{file_name}"
        items.append(item)
    answer: dict[str, Any] = {"created": int(time.time()), "data": items}
    if gpt_image:
        quality = str(request.body.get("quality") or "medium")
        size = str(request.body.get("size") or "1024x1024")
        per_image = _IMAGE_TOKENS.get(quality, _IMAGE_TOKENS["medium"]).get(size, 1056)
        prompt_tokens = count_words(str(request.body.get("prompt", ""))) + 3
        answer["usage"] = {
            "input_tokens": prompt_tokens,
            "output_tokens": per_image * count,
            "total_tokens": prompt_tokens + per_image * count,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
        }
    return answer


def models(names: list[str]) -> dict[str, Any]:
    """GET /v1/models: every model the fake has been scripted for or asked about."""
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "llmcfg-fake"} for n in names]
    return {"object": "list", "data": data}


def error(status: int, message: str, code: str | None) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code or status}}
