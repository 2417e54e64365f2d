"""A local OpenAI-compatible provider for tests: real HTTP on 127.0.0.1, scripted replies and faults.

Why a server and not a mock: LiteLLM's request building, retries, fallbacks and response parsing are
what break in production, so tests must run them. Only the remote end is fake.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeProvider", "RecordedRequest"]

_ENDPOINTS = {"chat/completions": "chat", "embeddings": "embeddings", "images/generations": "images"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, as it arrived."""

    endpoint: str  # chat | embeddings | images
    path: str
    model: str
    api_key: str | None
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages


@dataclass
class _Rule:
    action: str  # reply | status | delay | garbage | reset
    model: str | None = None
    api_key: str | None = None
    endpoint: str | None = None
    times: int | None = None  # None: for ever
    text: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    status: int = 500
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, request: RecordedRequest) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.endpoint is not None and self.endpoint != request.endpoint:
            return False
        if self.api_key is not None and self.api_key != request.api_key:
            return False
        return self.model is None or request.model == self.model or request.model.endswith("/" + self.model)


class FakeProvider:
    """An OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies, faults and a request log.

    Use it as a context manager (``with FakeProvider() as fake:``, or ``async with``); point a config
    at it with :func:`llmcfg.testing.use_fake`. Rules are tried in the order they were added; a rule
    with ``times`` is used up after that many requests. With no matching rule the fake answers
    ``default_text``.
    """

    def __init__(self, *, default_text: str = "ok") -> None:
        self.default_text = default_text
        self.requests: list[RecordedRequest] = []
        self.gets: list[str] = []
        self._rules: list[_Rule] = []
        self._files: dict[str, tuple[int, Any, str, dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeProvider",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProvider:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running: use it as a context manager or call start()")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ends in ``/v1``) to give a provider as ``api_base``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting --------------------------------------------------------------------------------
    def reply(
        self,
        text: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        times: int | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        **extra: Any,
    ) -> None:
        """Answer with ``text``; ``cost`` adds ``usage.cost`` as OpenRouter reports it. Extra keywords:
        ``tool_calls`` (OpenAI format), ``cached_tokens``, ``reasoning_tokens`` (usage details),
        ``break_after`` (a stream drops the connection after that many text chunks)."""
        self._add(_Rule("reply", model, api_key, None, times, text, tokens_in, tokens_out, cost, extra=extra))

    def fail(
        self,
        status: int = 500,
        *,
        message: str = "injected failure",
        retry_after: float | None = None,
        code: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer with an HTTP error in the OpenAI error format (with ``Retry-After`` when given).

        ``code`` is OpenAI's error code, e.g. ``content_policy_violation`` or ``context_length_exceeded``.
        """
        rule = _Rule(
            "status", model, api_key, times=times, status=status, message=message, retry_after=retry_after
        )
        rule.extra["code"] = code
        self._add(rule)

    def delay(self, seconds: float, *, model: str | None = None, times: int | None = 1) -> None:
        """Wait before answering (whatever answers next): a slow or timed-out provider."""
        self._add(_Rule("delay", model, times=times, seconds=seconds))

    def garbage(
        self,
        body: bytes = b"<html>502 Bad Gateway</html>",
        *,
        model: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer 200 with a body that is not JSON."""
        self._add(_Rule("garbage", model, times=times, body=body))

    def reset_connection(self, *, model: str | None = None, times: int | None = 1) -> None:
        """Drop the connection with a TCP reset instead of answering."""
        self._add(_Rule("reset", model, times=times))

    def serve(
        self,
        path: str,
        body: bytes | Callable[[], Iterable[bytes]],
        *,
        content_type: str = "application/octet-stream",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` on GET ``path`` (a callable yielding chunks is streamed, chunked, with no
        Content-Length). Returns the URL. Every GET is recorded in ``fake.gets``."""
        self._files[path] = (status, body, content_type, dict(headers or {}))
        return f"http://127.0.0.1:{self.port}{path}"

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        """Answer GET ``path`` with a redirect to ``location``. Returns the URL."""
        return self.serve(path, b"", status=status, headers={"Location": location})

    def clear(self) -> None:
        """Forget rules and recorded requests."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model or r.model.endswith("/" + model)]

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take_rules(self, request: RecordedRequest) -> Iterator[_Rule]:
        """Yield the delays that apply, then the one rule that answers (if any); uses them up."""
        with self._lock:
            self.requests.append(request)
            chosen: list[_Rule] = []
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                chosen.append(rule)
                if rule.action != "delay":
                    break
        yield from chosen


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a size cap, a timeout) is expected, not news."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle plus delayed ACK add ~40 ms to every call and hide real costs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: tests read ``fake.requests`` instead."""

    def do_GET(self) -> None:
        self.fake.gets.append(self.path)
        served = self.fake._files.get(self.path)
        if served is not None:
            status, body, content_type, headers = served
            if callable(body):
                self._send_stream(status, body(), content_type, headers)
            else:
                self._send(status, body, content_type, headers)
        elif self.path.startswith("/files/"):
            self._send(200, _png_for(self.path.rsplit("/", 1)[-1]), "image/png")
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        endpoint = next(
            (name for suffix, name in _ENDPOINTS.items() if self.path.rstrip("/").endswith(suffix)), ""
        )
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        auth = self.headers.get("Authorization", "")
        request = RecordedRequest(
            endpoint=endpoint,
            path=self.path,
            model=str(body.get("model", "")),
            api_key=auth[7:] if auth.startswith("Bearer ") else None,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        answer: _Rule | None = None
        for rule in self.fake._take_rules(request):
            if rule.action == "delay":
                if self.fake._stopping.wait(rule.seconds):
                    return
            else:
                answer = rule
        if not endpoint:
            self._send_json(404, {"error": {"message": f"no endpoint {self.path}", "type": "not_found"}})
        elif answer is None or answer.action == "reply":
            self._answer(request, answer)
        elif answer.action == "status":
            headers = {"Retry-After": f"{answer.retry_after:g}"} if answer.retry_after is not None else {}
            code = answer.extra.get("code") or answer.status
            error = {"message": answer.message, "type": _error_type(answer.status), "code": code}
            self._send_json(answer.status, {"error": error}, headers)
        elif answer.action == "garbage":
            self._send(200, answer.body, "application/json")
        elif answer.action == "reset":
            self._reset()

    def _reset(self) -> None:
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    # -- answers ----------------------------------------------------------------------------------
    def _answer(self, request: RecordedRequest, rule: _Rule | None) -> None:
        if request.endpoint == "embeddings":
            self._send_json(200, _embedding_body(request))
        elif request.endpoint == "images":
            self._send_json(200, _image_body(request, self.fake.base_url))
        elif request.body.get("stream"):
            self._stream(request, rule)
        else:
            self._send_json(200, _chat_body(request, rule, self.fake.default_text))

    def _stream(self, request: RecordedRequest, rule: _Rule | None) -> None:
        whole = _chat_body(request, rule, self.fake.default_text)
        text = whole["choices"][0]["message"]["content"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {
            "id": whole["id"],
            "object": "chat.completion.chunk",
            "created": whole["created"],
            "model": whole["model"],
        }
        pieces = _split_keep_spaces(text) or [""]
        break_after = rule.extra.get("break_after") if rule is not None else None
        for index, piece in enumerate(pieces):
            if break_after is not None and index >= break_after:
                self._reset()
                return
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            self._chunk({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.body.get("stream_options") or {}).get("include_usage"):
            self._chunk({**base, "choices": [], "usage": whole["usage"]})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _chunk(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_stream(
        self, status: int, chunks: Iterable[bytes], content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for chunk in chunks:
                if chunk:
                    self._write_chunk(chunk)
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading: what a size cap does

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _split_keep_spaces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]


def _count_words(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: whitespace words of every text part."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(v) for v in value)
    if isinstance(value, dict):
        return _count_words(value.get("content", value.get("text", "")))
    return 0


def _error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")


def _request_id(request: RecordedRequest) -> str:
    return "fake-" + hashlib.sha256(json.dumps(request.body, sort_keys=True).encode()).hexdigest()[:12]


def _chat_body(request: RecordedRequest, rule: _Rule | None, default_text: str) -> dict[str, Any]:
    text = rule.text if rule is not None else default_text
    tokens_in = (
        rule.tokens_in
        if rule is not None and rule.tokens_in is not None
        else 3 + _count_words(request.messages)
    )
    tokens_out = (
        rule.tokens_out if rule is not None and rule.tokens_out is not None else max(1, len(text.split()))
    )
    usage: dict[str, Any] = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    if rule is not None and rule.cost is not None:
        usage["cost"] = rule.cost
    if rule is not None and rule.extra.get("cached_tokens"):
        usage["prompt_tokens_details"] = {"cached_tokens": rule.extra["cached_tokens"]}
    if rule is not None and rule.extra.get("reasoning_tokens"):
        usage["completion_tokens_details"] = {"reasoning_tokens": rule.extra["reasoning_tokens"]}
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if rule is not None and "tool_calls" in rule.extra:
        message["tool_calls"] = rule.extra["tool_calls"]
    return {
        "id": _request_id(request),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }


def _embedding_body(request: RecordedRequest) -> dict[str, Any]:
    raw = request.body.get("input", [])
    texts = [raw] if isinstance(raw, str) else list(raw)
    data = []
    for index, text in enumerate(texts):
        digest = hashlib.sha256(str(text).encode()).digest()
        data.append({"object": "embedding", "index": index, "embedding": [b / 255 for b in digest[:8]]})
    tokens = _count_words(texts)
    return {
        "object": "list",
        "model": request.model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _image_body(request: RecordedRequest, base_url: str) -> dict[str, Any]:
    """URLs to PNGs the fake serves, or base64 when asked (and for gpt-image, which only does that)."""
    count = int(request.body.get("n") or 1)
    name = _request_id(request)
    items: list[dict[str, Any]] = []
    for index in range(count):
        file_name = f"{name}-{index}.png"
        if request.body.get("response_format") == "b64_json" or request.model.startswith("gpt-image"):
            items.append(
                {
                    "b64_json": base64.b64encode(_png_for(file_name)).decode(),
                    "revised_prompt": request.body.get("prompt"),
                }
            )
        else:
            items.append(
                {
                    "url": f"{base_url.removesuffix('/v1')}/files/{file_name}",
                    "revised_prompt": request.body.get("prompt"),
                }
            )
    return {"created": int(time.time()), "data": items}


def _png_for(name: str) -> bytes:
    """A small real PNG whose colour depends on ``name``, so different images differ."""
    from PIL import Image

    colour = tuple(hashlib.sha256(name.encode()).digest()[:3])
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()
