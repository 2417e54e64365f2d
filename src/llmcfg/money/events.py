"""The one ``llm.call`` event per call: to structlog, and appended to a JSONL cost log.

The application's structlog configuration is used as it is (we only ``get_logger``). The JSONL
file is appended one whole line per write under an exclusive lock, so several processes can share
it. Field names are a stable contract, documented in docs/events.md.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import structlog

__all__ = ["EVENT_FIELDS", "CostLog", "emit"]

EVENT_NAME = "llm.call"
# Present in every llm.call event (docs/events.md lists them, and the optional ones).
EVENT_FIELDS = (
    "request_id",
    "kind",
    "requested",
    "alias",
    "model",
    "provider",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "cost_source",
    "cached",
    "saved_usd",
    "latency_ms",
    "status",
    "error",
    "fallbacks_tried",
)

_logger = structlog.get_logger("llmcfg")

try:  # POSIX: several processes append to one file
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows: O_APPEND alone

    def _lock(fd: int) -> None:
        pass

    def _unlock(fd: int) -> None:
        pass


class CostLog:
    """Appends events as JSON lines to ``path`` (created with its folder on first write)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._folder_made = False

    def append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()
        with self._thread_lock:
            if not self._folder_made:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                self._folder_made = True
            # Opened per line on purpose: a log rotated or removed meanwhile gets a new file.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                _lock(fd)
                try:
                    os.write(fd, line)
                finally:
                    _unlock(fd)
            finally:
                os.close(fd)


def emit(fields: dict[str, Any], log: CostLog | None) -> dict[str, Any]:
    """Send one ``llm.call`` event; returns the event as written (with ``ts`` and ``event``)."""
    event = {"event": EVENT_NAME, "ts": round(time.time(), 3), **fields}
    if log is not None:
        try:
            log.append(event)
        except OSError as error:  # the call happened: losing the file line must not lose the event
            _logger.warning("llm.cost_log_failed", path=log.path, error=error.strerror)
    _logger.info(EVENT_NAME, **fields)
    return event
