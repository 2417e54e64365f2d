"""The one ``llm.call`` event per call: to the application's logging, and appended to a JSONL cost log.

Where the event goes is ``logging.events`` in the config (docs/events.md):

- ``auto`` (default): to structlog when the application configured structlog (``structlog.configure``,
  or ``structlog.testing.capture_logs``), else like ``stderr``. A library must not print on stdout,
  and structlog's unconfigured default (a ``PrintLogger`` on stdout) would do exactly that.
- ``structlog``: always ``structlog.get_logger("llmcfg")``, configured or not.
- ``stderr``: the standard library logger ``llmcfg.events`` at INFO. When the application has set up
  no logging handler at all, llmcfg writes the line to stderr itself (Python's own last-resort handler
  drops INFO); set that logger's level to WARNING to silence it, or add a handler to route it.
- ``off``: no event (the cost log and ``llm.usage_stats()`` are still fed).

The line is rendered only when something will consume it: structlog's bound logger decides for
itself (a filtering logger makes ``info`` a no-op), and the standard library path checks the level
before formatting anything.

The JSONL file stays open between calls. Each line is one ``write`` on an ``O_APPEND`` descriptor
under an exclusive ``flock``, so several processes can share it; the file is reopened when it was
rotated or removed (its path no longer names the file we hold) and after a fork. A failure to write
the file never loses the event: it goes out first, and the failure is reported as
``llm.cost_log_failed``. Field names are a stable contract, documented in docs/events.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from typing import Any

import msgspec
import structlog

__all__ = ["EVENT_FIELDS", "EVENT_MODES", "CostLog", "emit", "render", "send"]

EVENT_NAME = "llm.call"
EVENT_MODES = ("auto", "structlog", "stderr", "off")
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
stdlib_logger = logging.getLogger("llmcfg.events")
if stdlib_logger.level == logging.NOTSET:  # the app's own setting, made before this import, wins
    stdlib_logger.setLevel(logging.INFO)

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


# Unknown types (a Decimal, a path) are written as their str, as json.dumps(default=str) did; msgspec
# encodes an event in ~0.4 µs against ~3.8 µs for json.dumps (the cost log is written on every call).
_ENCODER = msgspec.json.Encoder(enc_hook=str)


class CostLog:
    """Appends events as JSON lines to ``path`` (created with its folder on first write)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._held: tuple[int, int, int] = (0, 0, 0)  # (device, inode, pid) of the descriptor we hold

    def append(self, event: dict[str, Any]) -> None:
        line = _ENCODER.encode(event) + b"\n"
        with self._thread_lock:
            fd = self._current()
            _lock(fd)
            try:
                os.write(fd, line)
            finally:
                _unlock(fd)

    def _current(self) -> int:
        """The open descriptor, or a new one when the path now names another file (rotated), no file
        (removed), or we are a forked child (a shared open file description would share the lock)."""
        if self._fd is not None:
            try:
                stat = os.stat(self.path)
                same = (stat.st_dev, stat.st_ino, os.getpid()) == self._held
            except OSError:
                same = False
            if same:
                return self._fd
            self.close()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        stat = os.fstat(fd)
        self._fd, self._held = fd, (stat.st_dev, stat.st_ino, os.getpid())
        return fd

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()


def render(name: str, fields: dict[str, Any]) -> str:
    """One human-readable line: ``llm.call kind=chat alias=mini ... status=ok`` (None fields left out)."""
    parts = [name]
    for key, value in fields.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if isinstance(value, str) and (not value or " " in value or "=" in value or '"' in value):
            text = json.dumps(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _Line:
    """A log message rendered only if a handler formats it."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name, self.fields = name, fields

    def __str__(self) -> str:
        return render(self.name, self.fields)


def _to_stdlib(level: int, name: str, fields: dict[str, Any]) -> None:
    if not stdlib_logger.isEnabledFor(level):
        return
    if stdlib_logger.hasHandlers():
        stdlib_logger.log(level, "%s", _Line(name, fields), extra={"llmcfg_event": name, "llmcfg": fields})
    else:  # nobody set up logging: Python would drop INFO; the library default is one line on stderr
        sys.stderr.write(render(name, fields) + "\n")


def send(mode: str, level: int, name: str, fields: dict[str, Any]) -> None:
    """Any of llmcfg's events (``llm.call``, ``llm.config_reloaded``...) by the ``logging.events`` route."""
    if mode == "off":
        return
    if mode == "structlog" or (mode == "auto" and structlog.is_configured()):
        (_logger.warning if level >= logging.WARNING else _logger.info)(name, **fields)
    else:
        _to_stdlib(level, name, fields)


def emit(fields: dict[str, Any], log: CostLog | None, mode: str = "auto") -> None:
    """Send one ``llm.call`` event, then append it (with ``event`` and ``ts``) to the cost log. The
    line is written even when the application's logging raised (a broken structlog processor or
    handler): the cost log is the record of what was paid, and its error still reaches the caller."""
    try:
        send(mode, logging.INFO, EVENT_NAME, fields)
    finally:
        if log is not None:
            _append(fields, log, mode)


def _append(fields: dict[str, Any], log: CostLog, mode: str) -> None:
    try:
        log.append({"event": EVENT_NAME, "ts": round(time.time(), 3), **fields})
    except (OSError, ValueError) as error:  # the call happened: the event is out, only the line is lost
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        warning = {"path": log.path, "error": reason}
        send("stderr" if mode == "off" else mode, logging.WARNING, "llm.cost_log_failed", warning)
