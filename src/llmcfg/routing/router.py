"""The live ``litellm.Router`` of one config, built on first use, and what each call attempted.

litellm is imported here and only here (and only when a call is made), after making sure it reads
its bundled price table instead of downloading one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from llmcfg.config import envrefs
from llmcfg.config.schema import Config
from llmcfg.routing.compile import RouterPlan, compile_router
from llmcfg.routing.gated import GatedRouter, alias_limits
from llmcfg.routing.limits import Gate, LimitStore, LocalLimitStore, RedisLimitStore

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["REQUEST_ID_KEY", "RouterRuntime", "attempts", "import_litellm"]

REQUEST_ID_KEY = "llmcfg_request_id"
_MAX_TRACKED = 10_000  # open requests remembered; old entries are dropped, not leaked


def import_litellm() -> ModuleType:
    """Import litellm offline-first: its price table from the package, no feedback banners."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Anthropic calls (structured output) otherwise fetch LiteLLM's beta-header list from GitHub.
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    import litellm

    litellm.suppress_debug_info = True
    _register_offline_ocr(litellm)
    # Token counting must not download tokenizers from a hub: tiktoken's bundled files serve all.
    litellm.disable_hf_tokenizer_download = True
    if not os.environ.get("LITELLM_LOG"):  # llmcfg reports failures itself, as typed errors and events
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    _install_tracker(litellm)
    return litellm


def _register_offline_ocr(litellm: Any) -> None:
    """Make ``rapidocr/...`` a LiteLLM provider (the engine itself loads on its first page)."""
    from llmcfg.ocr.provider import PROVIDER, RapidOCRProvider

    if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": RapidOCRProvider()},
        ]


class _Attempts:
    """Failed model groups per llmcfg request id, in the order LiteLLM reported them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: OrderedDict[str, list[str]] = OrderedDict()

    def record_failure(self, request_id: str, group: str) -> None:
        with self._lock:
            groups = self._failed.setdefault(request_id, [])
            if group not in groups:
                groups.append(group)
            while len(self._failed) > _MAX_TRACKED:
                self._failed.popitem(last=False)

    def pop(self, request_id: str) -> list[str]:
        with self._lock:
            return self._failed.pop(request_id, [])


attempts = _Attempts()
_tracker_lock = threading.Lock()
_tracker: Any = None


def _install_tracker(litellm: Any) -> None:
    """Register (once per process) the callback that tells which aliases failed for a request.

    Only as a failure callback (sync and async): in ``litellm.callbacks`` it would also become an
    input and a success callback, which LiteLLM runs for every call in the process, the
    application's own too (~70 us more background logging work per successful call, measured)."""
    global _tracker
    with _tracker_lock:
        if _tracker is None:
            from litellm.integrations.custom_logger import CustomLogger

            class _FailureTracker(CustomLogger):
                def log_failure_event(
                    self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
                ) -> None:
                    metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
                    request_id = metadata.get(REQUEST_ID_KEY)
                    logged = kwargs.get("standard_logging_object") or {}
                    group = logged.get("model_group") or metadata.get("model_group")
                    if request_id and group:
                        attempts.record_failure(str(request_id), str(group))

                async def async_log_failure_event(
                    self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
                ) -> None:
                    self.log_failure_event(kwargs, response_obj, start_time, end_time)

            _tracker = _FailureTracker()
        for hooks in (litellm.failure_callback, litellm._async_failure_callback):
            if _tracker not in hooks:
                hooks.append(_tracker)


class RouterRuntime:
    """Builds the Router from the config on first use and keeps it for the life of the client.

    With rate limits in the config, ``router`` is the Router behind a ``Gate`` (routing/limits.py):
    each call first waits for room under its alias's limits."""

    def __init__(self, config: Config, *, limit_store: LimitStore | None = None) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._router: Any = None
        self._plan: RouterPlan | None = None
        self._limit_store = limit_store

    @property
    def limit_store(self) -> LimitStore:
        """Where rate-limit windows live: Redis with ``router.redis_url``, else this process."""
        if self._limit_store is None:
            url = self.redis_url()
            self._limit_store = RedisLimitStore(url) if url else LocalLimitStore()
        return self._limit_store

    @property
    def plan(self) -> RouterPlan:
        if self._plan is None:
            with self._lock:
                if self._plan is None:
                    self._plan = compile_router(self.config)
        return self._plan

    def secrets(self) -> list[str]:
        """Every key value in use (and the Redis URL, which may hold a password), so error messages
        can be scrubbed of them."""
        deployments = self.plan.arguments["model_list"]
        keys = {str(d["litellm_params"].get("api_key") or "") for d in deployments}
        if self.config.router.redis_url:
            keys.add(self.redis_url() or "")
        return sorted((k for k in keys if len(k) >= 4), key=len, reverse=True)

    def redis_url(self) -> str | None:
        """``router.redis_url`` with its environment references resolved (CredentialError if unset)."""
        url = self.config.router.redis_url
        return envrefs.resolve(url, provider="router.redis_url") if url else None

    def router_arguments(self) -> dict[str, Any]:
        """The compiled Router arguments plus what is shared by the fleet: with ``router.redis_url``,
        LiteLLM keeps cooldowns, failure counts and per-minute usage in Redis, for every process."""
        arguments = dict(self.plan.arguments)
        url = self.redis_url()
        if url:
            arguments["redis_url"] = url
        return arguments

    def ensure_available(self, alias: str) -> None:
        """Raise CredentialError if ``alias`` lacks a key; recompile once if the environment changed."""
        error = self.plan.unavailable.get(alias)
        if error is None:
            return
        fresh = compile_router(self.config)
        if alias in fresh.unavailable:
            raise fresh.unavailable[alias]
        with self._lock:
            self._plan, self._router = fresh, None

    @property
    def router(self) -> Any:
        if self._router is None:
            arguments = self.router_arguments()
            litellm = import_litellm()
            limits = alias_limits(self.config)
            with self._lock:
                if self._router is None:
                    router = litellm.Router(**arguments)
                    if limits:
                        settings = self.config.router
                        gate = Gate(
                            self.limit_store,
                            limits,
                            queue_timeout_s=settings.queue_timeout_s,
                            lease_ttl_s=settings.timeout_s * (settings.num_retries + 1) + 30,
                        )
                        router = GatedRouter(router, gate)
                    self._router = router
        return self._router
