"""The FakeProvider's HTTP end: one handler for the three wire formats, told apart by path (see
``_route``), answering by the rules the ``FakeProvider`` holds. Kept apart from ``fake_provider``
(what a test scripts) because this is how it goes over the wire."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from llmcfg.testing import fake_anthropic, fake_gemini, fake_openai
from llmcfg.testing.fake_wire import Event, RecordedRequest, Script, png_for

if TYPE_CHECKING:
    from llmcfg.testing.fake_provider import FakeProvider

__all__ = ["Handler", "Server"]

_WIRES: dict[str, Any] = {"openai": fake_openai, "anthropic": fake_anthropic, "gemini": fake_gemini}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a size cap, a timeout) is expected, not news."""


def _route(path: str, body: dict[str, Any], headers: dict[str, str]) -> RecordedRequest | None:
    """Which wire format and endpoint a POST speaks (None: none the fake serves)."""
    if (endpoint := fake_anthropic.endpoint(path)) is not None:
        model, key, provider = str(body.get("model", "")), fake_anthropic.api_key(headers), "anthropic"
    elif (endpoint := fake_gemini.endpoint(path)) is not None:
        model, key, provider = fake_gemini.model(path), fake_gemini.api_key(path, headers), "gemini"
    elif (endpoint := fake_openai.endpoint(path)) is not None:
        auth = headers.get("authorization", "")
        model, key, provider = (
            str(body.get("model", "")),
            auth[7:] if auth.startswith("Bearer ") else None,
            "openai",
        )
    else:
        return None
    return RecordedRequest(endpoint, path, model, key, body, headers, provider)


class Handler(BaseHTTPRequestHandler):
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
            self._send(200, png_for(self.path.rsplit("/", 1)[-1]), "image/png")
        elif fake_gemini.cache_path(self.path):
            self._send_json(200, fake_gemini.list_caches(self.fake.gemini_caches))
        elif self.path.split("?", 1)[0].rstrip("/") == "/v1/models":
            names = self.fake._model_names()
            if "anthropic-version" in self.headers:
                data = [
                    {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
                    for n in names
                ]
                listing = {"data": data, "has_more": False, "first_id": names[0] if names else None}
                self._send_json(200, {**listing, "last_id": names[-1] if names else None})
            else:
                self._send_json(200, fake_openai.models(names))
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fake_gemini.cache_path(self.path):
            key = fake_gemini.api_key(self.path, headers)
            self.fake.requests.append(
                RecordedRequest("cache", self.path, str(body.get("model", "")), key, body, headers, "gemini")
            )
            created = fake_gemini.create_cache(body, len(self.fake.gemini_caches) + 1)
            self.fake.gemini_caches.append(created)
            self._send_json(200, created)
            return
        request = _route(self.path, body, headers)
        if request is None:
            self.fake.requests.append(
                RecordedRequest("", self.path, str(body.get("model", "")), None, body, headers)
            )
            self._send_json(404, {"error": {"message": f"no endpoint {self.path}", "type": "not_found"}})
            return
        delays, answer = self.fake._take_rules(request)
        for rule in delays:
            if self.fake._stopping.wait(rule.seconds):
                return
        wire = _WIRES[request.provider]
        if answer is None or answer.action == "reply":
            self._answer(request, answer.script if answer is not None else Script(self.fake.default_text))
        elif answer.action == "status":
            extra = {"Retry-After": f"{answer.retry_after:g}"} if answer.retry_after is not None else {}
            self._send_json(answer.status, wire.error(answer.status, answer.message, answer.code), extra)
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
    def _answer(self, request: RecordedRequest, script: Script) -> None:
        wire = _WIRES[request.provider]
        if request.provider == "gemini":
            script = fake_gemini.with_cache(request, script, self.fake.gemini_caches)
        if request.endpoint == "embeddings":
            self._send_json(200, wire.embeddings(request))
        elif request.endpoint == "images":
            self._send_json(200, fake_openai.images(request, f"{self.fake.root_url}/files"))
        elif request.stream:
            self._send_events(wire.chat_stream(request, script), script.break_after)
        else:
            self._send_json(200, wire.chat(request, script))

    def _send_events(self, events: list[Event], break_after: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent_text = 0
        for event in events:
            if event.text and break_after is not None and sent_text >= break_after:
                self._reset()
                return
            sent_text += event.text
            self._write_chunk(event.data)
        self._write_chunk(b"")

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
