"""The Gemini API wire format of the fake: ``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent?alt=sse``, ``:batchEmbedContents`` and ``:embedContent``, with
``usageMetadata`` (cached and thoughts tokens included) and Google's error bodies
(``{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}}``)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llmcfg.testing.fake_openai import vector
from llmcfg.testing.fake_wire import (
    Event,
    RecordedRequest,
    Script,
    count_words,
    request_id,
    split_keep_spaces,
    sse,
)

__all__ = [
    "api_key",
    "cache_path",
    "chat",
    "chat_stream",
    "create_cache",
    "embeddings",
    "endpoint",
    "error",
    "list_caches",
    "model",
    "with_cache",
]

_CACHES = re.compile(r"^/v1(?:beta|alpha)?/cachedContents$")
_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^:/]+):(?P<method>[A-Za-z]+)$")
_METHODS = {
    "generateContent": "chat",
    "streamGenerateContent": "chat",
    "batchEmbedContents": "embeddings",
    "embedContent": "embeddings",
}
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _match(path: str) -> re.Match[str] | None:
    return _PATH.match(urlsplit(path).path)


def endpoint(path: str) -> str | None:
    found = _match(path)
    return _METHODS.get(found["method"]) if found else None


def model(path: str) -> str:
    """Gemini names the model in the URL, not in the body."""
    found = _match(path)
    return found["model"] if found else ""


def api_key(path: str, headers: dict[str, str]) -> str | None:
    if "x-goog-api-key" in headers:
        return headers["x-goog-api-key"]
    keys = parse_qs(urlsplit(path).query).get("key")
    return keys[0] if keys else None


def _usage(request: RecordedRequest, script: Script) -> dict[str, Any]:
    """``promptTokenCount`` includes the cached tokens; ``candidatesTokenCount`` excludes thoughts."""
    system = request.body.get("system_instruction", request.body.get("systemInstruction", {}))
    prompt = script.input_tokens(system, request.body.get("contents", []))
    answer = script.output_tokens()
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer,
        "totalTokenCount": prompt + answer + script.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if script.cached_tokens:
        usage["cachedContentTokenCount"] = script.cached_tokens
    if script.reasoning_tokens:
        usage["thoughtsTokenCount"] = script.reasoning_tokens
    return usage


def _parts(script: Script, text: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts.extend({"functionCall": {"name": name, "args": args}} for _, name, args in script.tools())
    return parts


def _response(request: RecordedRequest, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": request.model, "responseId": request_id(request)}


def chat(request: RecordedRequest, script: Script) -> dict[str, Any]:
    return {
        **_response(request, _parts(script, script.text), "STOP"),
        "usageMetadata": _usage(request, script),
    }


def chat_stream(request: RecordedRequest, script: Script) -> list[Event]:
    """One chunk per word; the last one carries the tool calls, ``finishReason`` and the usage."""
    pieces = split_keep_spaces(script.text) if script.text else []
    events = [sse(_response(request, [{"text": p}], None), text=True) for p in pieces[:-1]]
    last = _parts(script, pieces[-1] if pieces else "")
    events.append(
        sse({**_response(request, last, "STOP"), "usageMetadata": _usage(request, script)}, text=bool(pieces))
    )
    return events


def embeddings(request: RecordedRequest) -> dict[str, Any]:
    """batchEmbedContents answers ``embeddings``; embedContent one ``embedding``."""
    if "requests" in request.body:
        texts = [" ".join(p.get("text", "") for p in r["content"]["parts"]) for r in request.body["requests"]]
        return {"embeddings": [{"values": vector(t)} for t in texts]}
    parts = request.body.get("content", {}).get("parts", [])
    return {"embedding": {"values": vector(" ".join(p.get("text", "") for p in parts))}}


def error(status: int, message: str, code: str | None) -> dict[str, Any]:
    return {
        "error": {"code": status, "message": message, "status": code or _STATUSES.get(status, "INTERNAL")}
    }


# -- context caching (what LiteLLM does for cache_control on gemini/): list, create, then refer ----
def cache_path(path: str) -> bool:
    return _CACHES.match(urlsplit(path).path) is not None


def create_cache(body: dict[str, Any], number: int) -> dict[str, Any]:
    """A cachedContents resource for ``body``; its tokens are read at the cached rate later."""
    system = body.get("system_instruction", body.get("systemInstruction", {}))
    tokens = 3 + count_words([system, body.get("contents", [])])
    return {
        "name": f"cachedContents/fake-{number}",
        "displayName": body.get("displayName", body.get("display_name", "")),
        "model": body.get("model", ""),
        "expireTime": "2099-01-01T00:00:00Z",
        "usageMetadata": {"totalTokenCount": tokens},
    }


def list_caches(caches: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cachedContents": caches}


def with_cache(request: RecordedRequest, script: Script, caches: list[dict[str, Any]]) -> Script:
    """A request naming a cachedContent reads its tokens from the cache: reported as cached input
    (``cachedContentTokenCount``) and counted in ``promptTokenCount``, as Gemini does."""
    name = request.body.get("cachedContent", request.body.get("cached_content"))
    cache = next((c for c in caches if c["name"] == name), None)
    if cache is None:
        return script
    cached = int(cache["usageMetadata"]["totalTokenCount"])
    system = request.body.get("system_instruction", request.body.get("systemInstruction", {}))
    sent = script.input_tokens(system, request.body.get("contents", []))
    tokens_in = script.tokens_in if script.tokens_in is not None else sent + cached
    return replace(script, tokens_in=tokens_in, cached_tokens=script.cached_tokens or cached)
