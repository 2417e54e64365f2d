"""A local provider for tests: real HTTP on 127.0.0.1, scripted replies and faults, a request log.

Why a server and not a mock: LiteLLM's request building, retries, fallbacks and response parsing are
what break in production, so tests must run them. Only the remote end is fake. It speaks three wire
formats on one port, told apart by path: OpenAI (``/v1/chat/completions``, also OpenRouter and any
``kind: openai`` server), Anthropic Messages (``/v1/messages``) and Gemini
(``/v1beta/models/{model}:generateContent``); each format lives in its own module (fake_openai,
fake_anthropic, fake_gemini), the HTTP handler that serves them in fake_server, and rules are written
once for all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from llmcfg.testing.fake_server import Handler, Server
from llmcfg.testing.fake_wire import RecordedRequest, Script

__all__ = ["FakeProvider", "RecordedRequest"]


@dataclass
class _Rule:
    action: str  # reply | status | delay | garbage | reset
    model: str | None = None
    api_key: str | None = None
    times: int | None = None  # None: a standing rule, for ever
    script: Script = field(default_factory=lambda: Script(""))
    status: int = 500
    message: str = ""
    code: str | None = None
    retry_after: float | None = None
    seconds: float = 0.0
    body: bytes = b""

    def matches(self, request: RecordedRequest) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.api_key is not None and self.api_key != request.api_key:
            return False
        return self.model is None or request.model == self.model or request.model.endswith("/" + self.model)


class FakeProvider:
    """An HTTP server on 127.0.0.1 that answers like OpenAI, Anthropic and Gemini, with scripted
    replies, faults and a log of every request (``fake.requests``).

    Use it as a context manager (``with FakeProvider() as fake:``, or ``async with``); point a config
    at it with :func:`llmcfg.testing.use_fake`.

    Which rule answers a request: rules with a count (``times=N``; ``fail``, ``garbage`` and
    ``reset_connection`` are used once unless told otherwise) wait in a queue and are used first,
    in the order added, each until its count runs out; then the standing rules (``reply`` without
    ``times``) answer, the first one added that matches. So ``fake.reply("Paris")`` followed by
    ``fake.fail(429)`` gives one 429, then "Paris" for ever. A ``delay`` with a count waits in the
    queue like the others and slows the request that reaches it; a standing delay
    (``times=None``) slows every matching request. With no matching rule the fake answers
    ``default_text``.
    """

    def __init__(self, *, default_text: str = "ok") -> None:
        self.default_text = default_text
        self.requests: list[RecordedRequest] = []
        self.gets: list[str] = []
        self._rules: list[_Rule] = []
        self._files: dict[str, tuple[int, Any, str, dict[str, str]]] = {}
        self.gemini_caches: list[dict[str, Any]] = []  # cachedContents created through the fake
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        handler = type("_BoundHandler", (Handler,), {"fake": self})
        self._server = Server(("127.0.0.1", 0), handler)
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
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ends in ``/v1``) to give a provider as ``api_base``."""
        return f"{self.root_url}/v1"

    def base_url_for(self, kind: str) -> str:
        """The ``api_base`` a LiteLLM provider of ``kind`` needs to reach this fake: LiteLLM appends
        ``/v1/messages`` to Anthropic's base and ``models/{model}:generateContent`` to Gemini's;
        OpenAI-compatible providers add ``/chat/completions`` to a base ending in ``/v1``."""
        return {"anthropic": self.root_url, "gemini": f"{self.root_url}/v1beta"}.get(kind, self.base_url)

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
        tool_calls: list[dict[str, Any]] | None = None,
        cached_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
        break_after: int | None = None,
    ) -> None:
        """Answer with ``text``, in whatever wire format the request spoke. Without ``times`` this
        is a standing answer; with it, a queued one used before any standing answer.

        ``tokens_in`` is the whole input as LiteLLM reports it (cached tokens included; by default
        3 + the words sent), ``tokens_out`` the answer (by default its words). ``tool_calls`` are
        written in OpenAI's format and sent as Anthropic ``tool_use`` blocks or Gemini
        ``functionCall`` parts. ``cached_tokens`` are input read from the prompt cache (OpenAI
        ``cached_tokens``, Anthropic ``cache_read_input_tokens``, Gemini ``cachedContentTokenCount``),
        ``cache_creation_tokens`` Anthropic's ``cache_creation_input_tokens``, ``reasoning_tokens``
        the output spent thinking (Gemini ``thoughtsTokenCount``). ``cost`` adds ``usage.cost`` as
        OpenRouter reports it; ``break_after`` makes a stream drop the connection after that many
        text chunks.
        """
        script = Script(
            text,
            list(tool_calls or []),
            tokens_in,
            tokens_out,
            cached_tokens,
            cache_creation_tokens,
            reasoning_tokens,
            cost,
            break_after,
        )
        self._add(_Rule("reply", model, api_key, times, script))

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
        """Answer with an HTTP error in the error format of the request's provider (OpenAI's
        ``{"error": {...}}``, Anthropic's ``{"type": "error", ...}`` with ``overloaded_error`` for 529,
        Gemini's ``{"error": {"code", "status"}}``), with ``Retry-After`` when given. Used once unless
        ``times`` says otherwise (``times=None``: every time).

        ``code`` is the provider's own error code: OpenAI's (``content_policy_violation``,
        ``context_length_exceeded``), Anthropic's error type, Gemini's status.
        """
        self._add(
            _Rule(
                "status",
                model,
                api_key,
                times,
                status=status,
                message=message,
                code=code,
                retry_after=retry_after,
            )
        )

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

    def _take_rules(self, request: RecordedRequest) -> tuple[list[_Rule], _Rule | None]:
        """The delays that apply and the one rule that answers (if any); uses up their counts."""
        with self._lock:
            self.requests.append(request)
            matching = [rule for rule in self._rules if rule.matches(request)]
            delays = [rule for rule in matching if rule.action == "delay" and rule.times is None]
            answer = None
            for rule in [r for r in matching if r.times is not None] + [
                r for r in matching if r.times is None
            ]:
                if rule.action == "delay" and rule.times is not None:
                    delays.append(rule)
                elif rule.action != "delay":
                    answer = rule
                    break
            for rule in delays if answer is None else [*delays, answer]:
                if rule.times is not None:
                    rule.times -= 1
        return delays, answer

    def _model_names(self) -> list[str]:
        with self._lock:
            named = {rule.model for rule in self._rules if rule.model}
            named |= {request.model for request in self.requests if request.model}
        return sorted(named)
