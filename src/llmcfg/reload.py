"""Hot reload: ``llm.reload()`` re-reads the YAML, validates it fully and swaps the new config in at
once; ``LLM(config, watch=True)`` reloads when the file changes (the ``watch`` extra: watchfiles);
``reload_on_sighup`` does it on SIGHUP for long-running commands.

Why a fresh client's state and one swap: a reload must never leave a half-new client. The new
config is loaded, checked and compiled into a complete new state first (a broken file raises the
usual ConfigError and nothing changes); then the instance's attributes are replaced in one
``dict.update``. Calls already sent hold the old Router and finish on it. What must outlive a
reload is carried over: usage stats, the caches, the budget store (spend so far) and the rate-limit
windows, each when its own settings did not change.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcfg.config.load import load_config
from llmcfg.config.schema import Config
from llmcfg.exceptions import ConfigError, ConfigIssue, LLMCfgError, MissingDependencyError
from llmcfg.money.events import send as send_event
from llmcfg.observe.otel import OtelHook
from llmcfg.routing.compile import compile_router

__all__ = ["RELOAD_EVENT", "ConfigChange", "Reloadable", "reload_on_sighup"]

RELOAD_EVENT = "llm.config_reloaded"
WATCH_HINT = "LLM(watch=True) needs watchfiles: pip install 'llmcfg[watch]'"
_OWN = ("_reload_lock", "_watcher", "_watch_stop")  # the reloader's own state, never swapped


@dataclass(frozen=True)
class ConfigChange:
    """What a reload changed, by alias."""

    source: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def _alias_view(config: Config, alias: str) -> Any:
    """Everything that decides what an alias does: its entry, provider, fallbacks, limits."""
    entry = config.models[alias]
    provider = config.providers.get(entry.model.partition("/")[0])
    return (
        entry.model_dump(),
        provider.model_dump() if provider is not None else None,
        config.fallbacks.get(alias),
        config.fallbacks_on_context.get(alias),
    )


def diff(old: Config, new: Config, source: str) -> ConfigChange:
    before, after = set(old.models), set(new.models)
    return ConfigChange(
        source,
        added=tuple(sorted(after - before)),
        removed=tuple(sorted(before - after)),
        changed=tuple(sorted(a for a in before & after if _alias_view(old, a) != _alias_view(new, a))),
    )


class Reloadable:
    """Mixed into ``LLM``: ``reload()``, and ``watch=True`` to reload on file change."""

    config: Config

    def __init__(self, config: Config, *args: Any, watch: bool = False, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)  # type: ignore[call-arg]
        self._reload_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._watch_stop = threading.Event()
        if watch:
            self.watch()

    def reload(self) -> ConfigChange:
        """Re-read the config file and swap it in; ConfigError (old config kept) if it is broken."""
        source = self.config.source
        if source is None:
            raise ConfigError(
                ConfigIssue("this LLM was built from a Config object, not a file: nothing to reload")
            )
        with self._reload_lock:
            new = self.config.carried_to(load_config(source))  # use_fake, isolated: again
            compile_router(new)  # the Router arguments build (credentials are checked per call)
            fresh = self._fresh(new)
            change = diff(self.config, new, source)
            state = {k: v for k, v in vars(fresh).items() if k not in _OWN}
            vars(self).update(state)  # one step: no call sees half a config
        fields = {
            "source": change.source,
            "aliases_added": list(change.added),
            "aliases_removed": list(change.removed),
            "aliases_changed": list(change.changed),
        }
        # The same route as llm.call (logging.events): never stdout.
        send_event(new.logging.events, logging.INFO, RELOAD_EVENT, fields)
        return change

    def _fresh(self, new: Config) -> Any:
        """A complete client state for ``new``, carrying what must survive the reload."""
        old: Any = self
        same_budget_store = (new.budgets.store, new.budgets.redis_url) == (
            old.config.budgets.store,
            old.config.budgets.redis_url,
        )
        fresh: Any = type(self)(
            new,
            clock=old.budget.clock,
            budget_store=old.budget._store if same_budget_store else None,
            hooks=[
                hook for hook in old.hooks if not isinstance(hook, OtelHook)
            ],  # the new config decides OTel
        )
        fresh.stats = old.stats
        if new.cache == old.config.cache:
            fresh._caches = old._caches
        if new.fetch == old.config.fetch:
            fresh._fetcher = old._fetcher
        if new.router.redis_url == old.config.router.redis_url:
            fresh._runtime._limit_store = old._runtime._limit_store
        return fresh

    # -- watching ---------------------------------------------------------------------------------
    def watch(self) -> None:
        """Reload whenever the config file changes (a thread; ``stop_watching()`` ends it)."""
        try:
            import watchfiles
        except ImportError:
            missing = MissingDependencyError("watch", WATCH_HINT)
            missing.args = (WATCH_HINT,)
            raise missing from None
        source = self.config.source
        if source is None:
            raise ConfigError(ConfigIssue("watch=True needs an LLM built from a config file"))
        if self._watcher is not None:
            return
        path = Path(source).resolve()
        self._watch_stop.clear()

        def run() -> None:
            # The folder, not the file: editors replace a file by renaming a new one over it.
            for changes in watchfiles.watch(path.parent, stop_event=self._watch_stop, debounce=200):
                if any(Path(changed).resolve() == path for _kind, changed in changes):
                    self._reload_quietly()

        self._watcher = threading.Thread(target=run, name="llmcfg-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _reload_quietly(self) -> None:
        """A reload from a watcher or signal: a broken file is logged and the old config serves."""
        try:
            self.reload()
        except LLMCfgError as error:
            fields = {"source": self.config.source, "error": str(error)}
            send_event(self.config.logging.events, logging.WARNING, "llm.config_reload_failed", fields)


@contextmanager
def reload_on_sighup(llm: Reloadable) -> Iterator[None]:
    """While inside, SIGHUP reloads ``llm``'s config (POSIX, main thread; elsewhere a no-op)."""
    hup = getattr(signal, "SIGHUP", None)
    if hup is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_hup(_signum: int, _frame: Any) -> None:
        # Not in the handler itself: it interrupts the main thread, which may hold the reload lock.
        threading.Thread(target=llm._reload_quietly, name="llmcfg-sighup", daemon=True).start()

    previous = signal.signal(hup, on_hup)
    try:
        yield
    finally:
        signal.signal(hup, previous)
