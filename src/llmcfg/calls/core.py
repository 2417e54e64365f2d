"""The state and the early steps every call shares: resolve an alias, check it can do the job and
can run now, reserve the budget, look up and fill the response cache. ``calls.pipeline`` runs them
in order for every kind (sync and async alike); ``calls.outcome`` reads responses and records calls.

Extension points: ``hooks`` (see ``calls.hooks``) and ``_substitutes`` (which alias serves when the
chosen one cannot run now).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from llmcfg.cache.backends import AnyCaches, open_caches
from llmcfg.cache.store import response_key
from llmcfg.calls.hooks import CallHook
from llmcfg.calls.outcome import Call, Outcomes
from llmcfg.calls.pipeline import Either, Steps
from llmcfg.config.aliases import AliasInfo
from llmcfg.config.load import load_config
from llmcfg.config.positions import closest
from llmcfg.config.schema import QUALITIES, Config
from llmcfg.config.validation import fallback_chain
from llmcfg.exceptions import (
    BudgetExceededError,
    BudgetStoreError,
    CapabilityError,
    CredentialError,
    LLMCfgError,
    MissingDependencyError,
    UnknownAliasError,
)
from llmcfg.images.fetch import ImageFetcher
from llmcfg.money.budget.guard import BudgetGuard, Clock, Reservation, StoreCall
from llmcfg.money.budget.spend import Spend
from llmcfg.money.budget.stores import BudgetStore
from llmcfg.money.events import CostLog, send
from llmcfg.money.usage_stats import UsageStats
from llmcfg.observe.otel import OtelHook
from llmcfg.results import CallResult
from llmcfg.routing.call_params import check_call_params
from llmcfg.routing.compile import prompt_cache_points
from llmcfg.routing.router import REQUEST_ID_KEY, RouterRuntime

__all__ = ["Call", "CallCore", "Message", "build_messages"]

# What each kind of call needs the alias's model to be.
_MODES_FOR = {
    "chat": ("chat",),
    "vision": ("chat",),
    "ocr": ("chat", "ocr"),
    "embed": ("embedding",),
    "image": ("image_generation",),
}

Message = dict[str, Any]
_C = TypeVar("_C", bound=CallResult)
_Self = TypeVar("_Self", bound="CallCore")


def build_messages(prompt: str | None, messages: list[Message] | None, system: str | None) -> list[Message]:
    if (prompt is None) == (messages is None):
        raise TypeError("pass either a prompt or messages=[...], not both and not neither")
    built: list[Message] = list(messages) if messages is not None else [{"role": "user", "content": prompt}]
    if system is not None:
        built.insert(0, {"role": "system", "content": system})
    return built


def require_vision(info: AliasInfo) -> None:
    """An image is for ``info``: refused before anything is fetched or sent when the alias cannot
    see (a provider would answer an error at best, drop the image silently at worst)."""
    if not info.vision and info.mode != "ocr":
        raise CapabilityError(
            f"alias {info.alias!r} ({info.litellm_model}) does not accept images; "
            "pick a vision alias, or set vision: true on it if LiteLLM's table is wrong"
        )


class CallCore(Outcomes):
    """State and steps every call shares. ``LLM`` adds the public methods on top."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        budget_store: BudgetStore | None = None,
        hooks: Sequence[CallHook] = (),
    ) -> None:
        """``clock`` (returning aware datetimes) and ``budget_store`` replace the real ones, e.g. in
        tests; ``hooks`` see every call (``llmcfg.calls.hooks``)."""
        self.config = config
        self.hooks = list(hooks)
        if config.logging.otel:  # spans and metrics by the OTel GenAI conventions (no-op without the extra)
            self.hooks.append(OtelHook())
        self.budget = BudgetGuard(config, clock=clock, store=budget_store)
        self.stats = UsageStats()
        self._runtime = RouterRuntime(config)
        self._aliases: dict[str, AliasInfo] = {}
        self._caches: AnyCaches | None = None
        self._fetcher: ImageFetcher | None = None
        cost_log = config.logging.cost_log
        self._cost_log = CostLog(config.resolve_path(cost_log)) if cost_log else None

    @classmethod
    def from_yaml(cls: type[_Self], path: str | Path | None = None) -> _Self:
        """Load and validate ``path`` (default: $LLMCFG_CONFIG, else ./llm_config.yaml)."""
        return cls(load_config(path))

    def __repr__(self) -> str:
        return f"LLM(config={self.config.source!r}, aliases={list(self.config.models)})"

    def _preset_alias(self, kind: str, quality: str) -> str | None:
        """The alias of a preset; OCR uses ``ocr.presets`` first, then the vision presets."""
        if kind == "ocr":
            own = getattr(self.config.ocr.presets, quality, None) if self.config.ocr.presets else None
            return own or self._preset_alias("vision", quality)
        presets = getattr(self.config.presets, kind, None)
        return getattr(presets, quality, None) if presets is not None else None

    def resolve(self, kind: str, *, quality: str | None = None, model: str | None = None) -> tuple[str, str]:
        """(alias, what was requested) for an explicit alias or a kind's quality preset."""
        if model is not None:
            if model not in self.config.models:
                raise UnknownAliasError(f"unknown alias {model!r}{closest(model, list(self.config.models))}")
            return model, model
        quality = quality or "balanced"
        if quality not in QUALITIES:
            raise UnknownAliasError(
                f"unknown quality {quality!r}{closest(quality, QUALITIES)}; use fast, balanced or best"
            )
        alias = self._preset_alias(kind, quality)
        if alias is None:
            raise UnknownAliasError(
                f"no preset presets.{kind}.{quality} in the config; add it or pass model="
            )
        return alias, f"{kind}/{quality}"

    def _usable(self, aliases: list[str]) -> list[str]:
        """``aliases`` without those that cannot run now (no key, no extra)."""
        return [alias for alias in aliases if alias not in self._runtime.plan.unavailable]

    def _ocr_chain(self, alias: str) -> list[str]:
        """What may read a page instead of ``alias``: its fallbacks, then ``ocr.fallback``."""
        chain = fallback_chain(self.config, alias)
        return [*chain, *(a for a in self.config.ocr.fallback if a not in chain and a != alias)]

    def _substitutes(self, kind: str, alias: str) -> list[str]:
        """The aliases, in order, that may serve a ``kind`` call when ``alias`` cannot run now (no
        key, no extra): its fallback chain (OCR: then ``ocr.fallback``, down to the local engine)."""
        return self._ocr_chain(alias) if kind == "ocr" else fallback_chain(self.config, alias)

    @staticmethod
    def _why(error: CredentialError | MissingDependencyError) -> str:
        if isinstance(error, CredentialError):
            return f"{error.variable} not set"
        return str(error).partition(": ")[2] or str(error)

    def _available_substitute(
        self, kind: str, alias: str, unusable: CredentialError | MissingDependencyError
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The first of ``_substitutes`` that can run now, and (alias, why) for each passed over;
        with none, the CredentialError naming every variable that would have enabled one."""
        passed = [(alias, self._why(unusable))]
        for candidate in self._substitutes(kind, alias):
            try:
                self._runtime.ensure_available(candidate)
            except (CredentialError, MissingDependencyError) as error:
                passed.append((candidate, self._why(error)))
                continue
            return candidate, tuple(passed)
        if isinstance(unusable, CredentialError) and len(passed) > 1:
            needs = tuple(
                (name, why.removesuffix(" not set") if why.endswith(" not set") else why)
                for name, why in passed
            )
            raise CredentialError(unusable.variable, alias, unusable.provider, options=needs) from None
        raise unusable

    def _start(self, kind: str, preset_kind: str, quality: str | None, model: str | None) -> Call:
        started = time.perf_counter()
        request_id = os.urandom(16).hex()  # as random as uuid4().hex, a quarter of the time
        try:
            alias, requested = self.resolve(preset_kind, quality=quality, model=model)
            info = self._describe(alias)
            if info.mode not in _MODES_FOR[kind]:
                raise CapabilityError(
                    f"alias {alias!r} ({info.litellm_model}) has mode {info.mode}; {kind} needs "
                    f"{' or '.join(_MODES_FOR[kind])} (set mode: on the alias if LiteLLM's table is wrong)"
                )
            passed: tuple[tuple[str, str], ...] = ()
            try:
                self._runtime.ensure_available(alias)
            except (CredentialError, MissingDependencyError) as unusable:
                alias, passed = self._available_substitute(kind, alias, unusable)
                info = self._describe(alias)
        except LLMCfgError as error:
            requested = model or f"{preset_kind}/{quality or 'balanced'}"
            self._error_event(None, kind, requested, error, [], request_id=request_id, started=started)
            raise
        self._runtime.router  # noqa: B018 - built (once) before the clock starts: latency is the call's
        by_preset = model is None
        call = Call(
            kind,
            requested,
            info,
            request_id,
            time.perf_counter(),
            preset_kind if by_preset else None,
            (quality or "balanced") if by_preset else None,
            skipped=tuple(name for name, _ in passed),
            skip_reasons=tuple(why for _, why in passed),
        )
        for hook in self.hooks:
            hook.started(call)
        return call

    # -- budgets ----------------------------------------------------------------------------------
    @staticmethod
    def _ledger(operation: StoreCall[Any]) -> Either:
        """A budget store operation as the pipeline's effect: run in place by ``drive``, awaited
        (without blocking the loop) by ``adrive``."""
        return Either(operation.run, operation.arun)

    def _reserve_steps(
        self, call: Call, estimate_for: Callable[[AliasInfo], float]
    ) -> Steps[Reservation | None]:
        """Reserve the worst case (the alias or any of its fallbacks) before sending; on a refusal,
        downgrade to the next cheaper option that fits when ``budgets.on_exceed`` says so."""
        if not self.budget.active:
            return None

        def worst(alias: str) -> float:  # OCR's chain includes ocr.fallback: its calls may end there
            chain = self._usable([alias, *self._substitutes(call.kind, alias)])
            return max(estimate_for(self._describe(a)) for a in chain)

        estimate = worst(call.info.alias)
        try:
            reservation: Reservation = yield self._ledger(
                self.budget.reserve_call(call.info.alias, call.kind, estimate)
            )
            return reservation
        except BudgetExceededError as refused:
            for alias in self._cheaper_options(call):
                cheaper = worst(alias)
                if cheaper >= estimate:
                    continue
                try:
                    reservation = yield self._ledger(self.budget.reserve_call(alias, call.kind, cheaper))
                except BudgetExceededError:
                    continue
                call.downgraded_from, call.info = call.info.alias, self._describe(alias)
                return reservation
            raise refused

    def _cheaper_options(self, call: Call) -> list[str]:
        """Where a refused call may go: with ``on_exceed: downgrade``, the lower qualities of the same
        preset (next one first), else the alias's fallbacks; for OCR always ``ocr.fallback`` too."""
        options: list[str | None] = []
        if self.config.budgets.on_exceed == "downgrade":
            if call.preset is not None and call.quality in QUALITIES:
                lower = QUALITIES[: QUALITIES.index(call.quality)][::-1]
                options = [self._preset_alias(call.preset, quality) for quality in lower]
            else:
                options = list(fallback_chain(self.config, call.info.alias))
        if call.kind == "ocr":
            options += self.config.ocr.fallback
        distinct = [a for a in dict.fromkeys(options) if a is not None and a != call.info.alias]
        return self._usable(distinct)

    def _settle(self, reservation: Reservation | None, result: CallResult) -> Steps[None]:
        """The real cost into the ledger. A ledger that fails now (locked, unreachable) does not take
        the answer away: the call was made and paid for, and raising would invite a retry that pays
        twice. The failure is an ``llm.budget_settle_failed`` warning; the call's reservation (its
        worst case, never less than the real cost) stays counted until it expires, and the cost is in
        the ``llm.call`` event and the cost log."""
        if reservation is None:
            return
        try:  # unknown stays unknown, never $0
            yield self._ledger(self.budget.settle_call(reservation, result.cost_usd, result.alias))
        except BudgetStoreError as error:
            fields = {
                "request_id": result.request_id,
                "alias": reservation.alias,
                "reserved_usd": reservation.amount,
                "cost_usd": result.cost_usd,
                "store": error.store,
                "error": str(error),
            }
            send(self.config.logging.events, logging.WARNING, "llm.budget_settle_failed", fields)

    def _release(self, reservation: Reservation | None) -> Steps[None]:
        if reservation is not None:
            yield self._ledger(self.budget.release_call(reservation))

    def usage_stats(self) -> dict[str, Any]:
        """Requests, errors, tokens, cost and cache hit rate: total and by model, alias and kind."""
        return self.stats.snapshot()

    def spend(self) -> Spend:
        """Spent, reserved, limit, remaining and reset time of today's and this month's windows."""
        return self.budget.spend() if self.budget.active else Spend([])

    @property
    def fetcher(self) -> ImageFetcher:
        """The image fetcher under this config's ``fetch`` policy (vision, OCR, images in messages)."""
        if self._fetcher is None:
            self._fetcher = ImageFetcher(**self.config.fetch.model_dump())
        return self._fetcher

    @property
    def caches(self) -> AnyCaches:
        if self._caches is None:
            self._caches = open_caches(self.config)  # cache.store: disk or redis
        return self._caches

    def _cache_key(
        self, call: Call, requested: bool | None, default: bool, content: Any, params: dict[str, Any]
    ) -> str | None:
        """A digest of everything that decides the answer, or None when this call is not cached."""
        if not self.config.cache.enabled or not (default if requested is None else requested):
            return None
        # where the call goes is part of the key: never another endpoint's answer (a fake's, say)
        provider = self.config.providers.get(call.info.provider)
        where = (call.info.provider, provider.api_base if provider else None, call.info.litellm_model)
        return response_key(model=where, kind=call.kind, content=content, params=params)

    def _cached(self, call: Call, key: str | None, result_type: type[_C]) -> _C | None:
        stored = self.caches.get_response(key) if key is not None else None
        if stored is None:
            return None
        try:
            result = result_type.model_validate(stored)
        except ValueError:  # pydantic's ValidationError: an entry llmcfg did not write is a miss
            return None
        hit = result.model_copy(
            update={
                "cached": True,
                "cost_usd": 0.0,
                "saved_usd": result.cost_usd or 0.0,
                "requested": call.requested,
                "fallbacks_tried": (),
                "skipped": call.skipped_why(),
                "latency_ms": call.elapsed_ms(),
                "request_id": call.request_id,
            }
        )
        self._result_event(call, hit)
        return hit

    def _remember(self, key: str | None, result: _C) -> _C:
        if key is not None:
            self.caches.put_response(key, result.model_dump(mode="json"))
        return result

    @contextmanager
    def _failing(self, call: Call) -> Iterator[None]:
        """Errors before the request is sent (bad image, wrong capability) still get their event, and
        so does a call cancelled (or interrupted) there, while its image is fetched or prepared."""
        try:
            yield
        except LLMCfgError as error:
            self._error_event(call, call.kind, call.requested, error, [])
            raise
        except BaseException as error:
            if not isinstance(error, (Exception, GeneratorExit)):
                self._interrupted(call, error)
            raise

    @staticmethod
    def _chat_params(call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """A chat call's keyword arguments, checked against what the provider takes (a typo, or
        ``response_model``, fails here, before anything is sent), with ``cache_prompt`` turned into
        the provider's prompt-cache markers."""
        params = dict(params)
        cache_prompt = params.pop("cache_prompt", None)
        check_call_params(call.info.alias, call.info.litellm_model, params)
        points = prompt_cache_points(call.info.litellm_model, cache_prompt)
        if points:
            params["cache_control_injection_points"] = points
        return params

    @staticmethod
    def _params(call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with llmcfg's request id in ``metadata`` (how LiteLLM's callbacks name the call)."""
        metadata = dict(params.get("metadata") or {})
        metadata[REQUEST_ID_KEY] = call.request_id
        return {**params, "metadata": metadata}
