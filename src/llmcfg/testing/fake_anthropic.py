"""The Anthropic Messages wire format of the fake: ``POST /v1/messages``, as JSON or as the SSE event
sequence (message_start, content_block_*, message_delta, message_stop), with prompt-cache usage and
Anthropic's error bodies (``{"type": "error", "error": {"type": ..., "message": ...}}``)."""

from __future__ import annotations

import json
from typing import Any

from llmcfg.testing.fake_wire import Event, RecordedRequest, Script, request_id, split_keep_spaces, sse

__all__ = ["api_key", "chat", "chat_stream", "endpoint", "error"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def endpoint(path: str) -> str | None:
    return "chat" if path.split("?", 1)[0].rstrip("/") == "/v1/messages" else None


def api_key(headers: dict[str, str]) -> str | None:
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None


def _usage(request: RecordedRequest, script: Script) -> dict[str, Any]:
    """Anthropic's ``input_tokens`` excludes the tokens read from or written to the prompt cache;
    ``tokens_in`` of a rule is the whole input, as LiteLLM reports it (``prompt_tokens``)."""
    sent = script.input_tokens(request.body.get("system", ""), request.body.get("messages", []))
    fresh = max(0, sent - script.cached_tokens - script.cache_creation_tokens)
    return {
        "input_tokens": fresh,
        "output_tokens": script.output_tokens(),
        "cache_creation_input_tokens": script.cache_creation_tokens,
        "cache_read_input_tokens": script.cached_tokens,
    }


def _content(script: Script) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": script.text}] if script.text else []
    for call_id, name, arguments in script.tools():
        blocks.append({"type": "tool_use", "id": f"toolu_{call_id}", "name": name, "input": arguments})
    return blocks


def chat(request: RecordedRequest, script: Script) -> dict[str, Any]:
    return {
        "id": "msg_" + request_id(request),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": _content(script),
        "stop_reason": "tool_use" if script.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": _usage(request, script),
    }


def chat_stream(request: RecordedRequest, script: Script) -> list[Event]:
    whole = chat(request, script)
    usage = whole["usage"]
    start = {**whole, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [sse({"type": "message_start", "message": start}, event="message_start")]
    events.append(sse({"type": "ping"}, event="ping"))
    for index, block in enumerate(whole["content"]):
        opening: dict[str, Any]
        if block["type"] == "text":
            opening = {"type": "text", "text": ""}
            pieces = [({"type": "text_delta", "text": p}, True) for p in split_keep_spaces(block["text"])]
        else:
            opening = {**block, "input": {}}
            pieces = [({"type": "input_json_delta", "partial_json": json.dumps(block["input"])}, False)]
        events.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                event="content_block_start",
            )
        )
        for delta, is_text in pieces:
            payload: dict[str, Any] = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append(sse(payload, event="content_block_delta", text=is_text))
        events.append(sse({"type": "content_block_stop", "index": index}, event="content_block_stop"))
    ending: dict[str, Any] = {"stop_reason": whole["stop_reason"], "stop_sequence": None}
    events.append(
        sse(
            {"type": "message_delta", "delta": ending, "usage": {"output_tokens": usage["output_tokens"]}},
            event="message_delta",
        )
    )
    events.append(sse({"type": "message_stop"}, event="message_stop"))
    return events


def error(status: int, message: str, code: str | None) -> dict[str, Any]:
    kind = code or _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
