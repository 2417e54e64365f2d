"""Extension points of the call pipeline: code that must see every call, whatever its kind.

A hook is an object with any of the methods below (subclass ``CallHook``, override what you need).
Hooks are given to ``LLM(config, hooks=[...])`` or added later with ``llm.hooks.append(hook)``; they
run in the order given, in the caller's thread or task, for sync and async calls alike (the pipeline
is written once: see ``llmcfg.calls.pipeline``).

- ``started(call)``: the alias is resolved and can run; nothing was looked up or sent yet. Open a
  tracing span here (OpenTelemetry: one span per call, keyed by ``call.request_id``).
- ``before_send(call) -> seconds``: the budget is reserved and the request is about to go out;
  return how long to wait first (a client-side rate limit), 0 for no wait. The sync runner sleeps,
  the async runner awaits ``asyncio.sleep``; the call's latency includes the wait.
- ``finished(call, event)``: the one ``llm.call`` event of the call, as sent (``call`` is None when
  the call failed before an alias was resolved, e.g. an unknown alias). Close the span here: the
  event has ``status``, ``error``, tokens and cost.

Which alias serves a call that cannot run now (no key, no extra installed) is decided by
``CallCore._substitutes(kind, alias)``; override it (or change it there) to skip such aliases for more
kinds than OCR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcfg.calls.core import Call

__all__ = ["CallHook"]


class CallHook:
    """Does nothing; override the methods you need."""

    def started(self, call: Call) -> None:
        """The call is resolved to ``call.info.alias``; nothing was looked up or sent yet."""

    def before_send(self, call: Call) -> float:
        """Seconds to wait before the request goes out (0: none)."""
        return 0.0

    def finished(self, call: Call | None, event: dict[str, Any]) -> None:
        """The call's one ``llm.call`` event (``call`` is None if it failed before resolving)."""
