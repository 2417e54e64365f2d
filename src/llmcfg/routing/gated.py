"""The Router behind the rate-limit gate: each call waits for room under its alias's limits, then
goes to LiteLLM; its lease ends (and its token estimate becomes the real count) when it returns.

The gate counts the alias that was asked for; a fallback the Router takes inside the call is not
gated again (its own calls are). Streams hold their parallel slot until the stream object is
returned, not until it is read to the end.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from llmcfg.config.schema import Config, RateLimits
from llmcfg.routing.limits import Gate, Limits

__all__ = ["GatedRouter", "alias_limits"]

_CHARS_PER_TOKEN = 4  # a rough prompt estimate; corrected to the provider's count after the call


def alias_limits(config: Config) -> dict[str, Limits]:
    """Each alias's effective limits: its own ``limits`` and its provider's ``key_limits`` times the
    number of keys (a pool of three keys at 60 rpm each serves 180 rpm), whichever is lower."""
    result: dict[str, Limits] = {}
    for alias, entry in config.models.items():
        provider = config.providers.get(entry.model.partition("/")[0])
        per_key = provider.key_limits if provider is not None else None
        keys = len(provider.api_key) if provider is not None and isinstance(provider.api_key, list) else 1
        limits = Limits(
            *(_lowest(name, entry.limits, per_key, keys) for name in ("rpm", "tpm", "max_parallel"))
        )
        if limits.active:
            result[alias] = limits
    return result


def _lowest(name: str, own: RateLimits | None, per_key: RateLimits | None, keys: int) -> int | None:
    pool = getattr(per_key, name, None)
    values = [
        v for v in (getattr(own, name, None), pool * keys if pool is not None else None) if v is not None
    ]
    return min(values) if values else None


def _estimate(kwargs: dict[str, Any]) -> int:
    """Tokens a call may use before it is sent: its text over four, plus the answer's cap."""
    payload = kwargs.get("messages", kwargs.get("input", kwargs.get("prompt", "")))
    size = len(json.dumps(payload, default=str)) // _CHARS_PER_TOKEN
    cap = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens") or 0
    return max(1, size + int(cap))


def _used(response: Any) -> int | None:
    usage = getattr(response, "usage", None)
    total = getattr(usage, "total_tokens", None)
    return int(total) if isinstance(total, int) else None


class GatedRouter:
    """Forwards everything to the Router; the calling methods pass the gate first."""

    _GATED = ("completion", "embedding", "image_generation")

    def __init__(self, router: Any, gate: Gate) -> None:
        self.router = router
        self.gate = gate

    def __getattr__(self, name: str) -> Any:
        if name in self._GATED:
            return self._sync(getattr(self.router, name))
        if name.startswith("a") and name[1:] in self._GATED:
            return self._async(getattr(self.router, name))
        return getattr(self.router, name)

    def _sync(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*, model: str, **kwargs: Any) -> Any:
            lease = self.gate.acquire(model, _estimate(kwargs))
            try:
                response = method(model=model, **kwargs)
            except BaseException:
                self.gate.release(lease)
                raise
            self.gate.release(lease, _used(response))
            return response

        return call

    def _async(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*, model: str, **kwargs: Any) -> Any:
            lease = await self.gate.aacquire(model, _estimate(kwargs))
            try:
                response = await method(model=model, **kwargs)
            except BaseException:
                self.gate.release(lease)
                raise
            self.gate.release(lease, _used(response))
            return response

        return call
