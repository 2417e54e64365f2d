"""The core of a call, shared by every kind (chat, vision, OCR, embeddings): resolve an alias,
check it can do the job, send through the Router, read tokens and cost, emit the one ``llm.call``
event, use the response cache.

Sync and async share every step but the one that waits (``_start`` before, ``_finish_*`` and
``_fail`` after), so there is one implementation of what a call means, not two.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmcfg.cache.store import Caches, response_key
from llmcfg.calls.usage import Usage, tool_calls
from llmcfg.config.aliases import AliasInfo, describe
from llmcfg.config.load import load_config
from llmcfg.config.positions import closest
from llmcfg.config.schema import QUALITIES, Config
from llmcfg.config.validation import fallback_chain
from llmcfg.exceptions import (
    BudgetExceededError,
    CapabilityError,
    CredentialError,
    LLMCfgError,
    MissingDependencyError,
    ProviderError,
    UnknownAliasError,
)
from llmcfg.images.fetch import ImageFetcher
from llmcfg.money.budget.estimate import chat_estimate
from llmcfg.money.budget.guard import BudgetGuard, Clock, Reservation
from llmcfg.money.budget.stores import BudgetStore
from llmcfg.money.cost import CallCost, token_cost
from llmcfg.money.events import CostLog, emit
from llmcfg.money.usage_stats import UsageStats
from llmcfg.results import CallResult, ChatResult
from llmcfg.routing.errors import translate
from llmcfg.routing.router import REQUEST_ID_KEY, RouterRuntime, attempts

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


@dataclass
class Call:
    """One call in flight: what was asked, which alias serves it, when it started."""

    kind: str
    requested: str
    info: AliasInfo
    request_id: str
    started: float
    preset: str | None = None  # the preset kind ("text") when asked by quality
    quality: str | None = None
    downgraded_from: str | None = None  # set when a budget moved the call to a cheaper alias
    skipped: tuple[str, ...] = ()  # aliases passed over before sending (OCR without a key or extra)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


def build_messages(prompt: str | None, messages: list[Message] | None, system: str | None) -> list[Message]:
    if (prompt is None) == (messages is None):
        raise TypeError("pass either a prompt or messages=[...], not both and not neither")
    built: list[Message] = list(messages) if messages is not None else [{"role": "user", "content": prompt}]
    if system is not None:
        built.insert(0, {"role": "system", "content": system})
    return built


class CallCore:
    """State and steps every call shares. ``LLM`` adds the public methods on top."""

    def __init__(
        self, config: Config, *, clock: Clock | None = None, budget_store: BudgetStore | None = None
    ) -> None:
        """``clock`` (returning aware datetimes) and ``budget_store`` replace the real ones, e.g. in tests."""
        self.config = config
        self.budget = BudgetGuard(config, clock=clock, store=budget_store)
        self.stats = UsageStats()
        self._runtime = RouterRuntime(config)
        self._aliases: dict[str, AliasInfo] = {}
        self._caches: Caches | None = None
        self._fetcher: ImageFetcher | None = None
        cost_log = config.logging.cost_log
        self._cost_log = CostLog(config.resolve_path(cost_log)) if cost_log else None

    def _describe(self, alias: str) -> AliasInfo:
        info = self._aliases.get(alias)
        if info is None:
            info = self._aliases[alias] = describe(self.config, alias)
        return info

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

    def _available_substitute(self, kind: str, alias: str) -> str | None:
        """For OCR, the first alias of the chain that can run when ``alias`` cannot (no key, no
        extra): OCR degrades to the free local engine instead of failing."""
        if kind != "ocr":
            return None
        for candidate in self._ocr_chain(alias):
            try:
                self._runtime.ensure_available(candidate)
            except (CredentialError, MissingDependencyError):
                continue
            return candidate
        return None

    def _start(self, kind: str, preset_kind: str, quality: str | None, model: str | None) -> Call:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        try:
            alias, requested = self.resolve(preset_kind, quality=quality, model=model)
            info = self._describe(alias)
            if info.mode not in _MODES_FOR[kind]:
                raise CapabilityError(
                    f"alias {alias!r} ({info.litellm_model}) has mode {info.mode}; {kind} needs "
                    f"{' or '.join(_MODES_FOR[kind])} (set mode: on the alias if LiteLLM's table is wrong)"
                )
            skipped: tuple[str, ...] = ()
            try:
                self._runtime.ensure_available(alias)
            except (CredentialError, MissingDependencyError):
                substitute = self._available_substitute(kind, alias)
                if substitute is None:
                    raise
                skipped, alias, info = (alias,), substitute, self._describe(substitute)
        except LLMCfgError as error:
            self._event(
                kind,
                model or f"{preset_kind}/{quality or 'balanced'}",
                None,
                request_id,
                started,
                error=error,
            )
            raise
        self._runtime.router  # noqa: B018 - built (once) before the clock starts: latency is the call's
        by_preset = model is None
        return Call(
            kind,
            requested,
            info,
            request_id,
            time.perf_counter(),
            preset_kind if by_preset else None,
            (quality or "balanced") if by_preset else None,
            skipped=skipped,
        )

    # -- budgets ----------------------------------------------------------------------------------
    def _reserve(self, call: Call, estimate_for: Callable[[AliasInfo], float]) -> Reservation | None:
        """Reserve the worst case (the alias or any of its fallbacks) before sending; on a refusal,
        downgrade to the next cheaper option that fits when ``budgets.on_exceed`` says so."""
        if not self.budget.active:
            return None

        def worst(alias: str) -> float:
            chain = self._usable([alias, *fallback_chain(self.config, alias)])
            return max(estimate_for(self._describe(a)) for a in chain)

        estimate = worst(call.info.alias)
        try:
            return self.budget.reserve(call.info.alias, call.kind, estimate)
        except BudgetExceededError as refused:
            for alias in self._cheaper_options(call):
                cheaper = worst(alias)
                if cheaper >= estimate:
                    continue
                try:
                    reservation = self.budget.reserve(alias, call.kind, cheaper)
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

    def _settle(self, reservation: Reservation | None, result: CallResult) -> None:
        if reservation is not None:
            self.budget.settle(reservation, result.cost_usd or 0.0)

    def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            self.budget.release(reservation)

    def usage_stats(self) -> dict[str, Any]:
        """Requests, errors, tokens, cost and cache hit rate: total and by model, alias and kind."""
        return self.stats.snapshot()

    def spend(self) -> dict[str, dict[str, float | None]]:
        """Spent, reserved and limit of today's and this month's budget windows."""
        return self.budget.spend() if self.budget.active else {}

    @property
    def caches(self) -> Caches:
        if self._caches is None:
            settings = self.config.cache
            self._caches = Caches(
                self.config.resolve_path(settings.dir),
                image_ttl_s=settings.image_ttl_s,
                response_ttl_s=settings.response_ttl_s,
            )
        return self._caches

    def _cache_key(
        self, call: Call, requested: bool | None, default: bool, content: Any, params: dict[str, Any]
    ) -> str | None:
        """A digest of everything that decides the answer, or None when this call is not cached."""
        if not self.config.cache.enabled or not (default if requested is None else requested):
            return None
        return response_key(model=call.info.litellm_model, kind=call.kind, content=content, params=params)

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

    def _run(
        self, call: Call, body: list[Message], params: dict[str, Any], image_tokens: int = 0
    ) -> ChatResult:
        reservation = None
        try:
            reservation = self._reserve(call, lambda info: chat_estimate(info, body, params, image_tokens))
            response = self._runtime.router.completion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            self._release(reservation)
            raise self._fail(call, error) from error
        result = self._finish_chat(call, response)
        self._settle(reservation, result)
        return result

    async def _arun(
        self, call: Call, body: list[Message], params: dict[str, Any], image_tokens: int = 0
    ) -> ChatResult:
        reservation = None
        try:
            reservation = self._reserve(call, lambda info: chat_estimate(info, body, params, image_tokens))
            response = await self._runtime.router.acompletion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            self._release(reservation)
            raise self._fail(call, error) from error
        result = self._finish_chat(call, response)
        self._settle(reservation, result)
        return result

    @contextmanager
    def _failing(self, call: Call) -> Iterator[None]:
        """Errors before the request is sent (bad image, wrong capability) still get their event."""
        try:
            yield
        except LLMCfgError as error:
            self._event(call.kind, call.requested, call.info, call.request_id, call.started, error=error)
            raise

    @staticmethod
    def _params(call: Call, params: dict[str, Any]) -> dict[str, Any]:
        metadata = dict(params.pop("metadata", None) or {})
        metadata[REQUEST_ID_KEY] = call.request_id
        return {**params, "metadata": metadata}

    def _answered_by(self, response: Any, call: Call) -> str:
        hidden = getattr(response, "_hidden_params", None) or {}
        group = (hidden.get("additional_headers") or {}).get("x-litellm-model-group")
        if group in self.config.models:
            return str(group)
        model_id = str(hidden.get("model_id") or "")
        alias = model_id.partition("#")[0]
        return alias if alias in self.config.models else call.info.alias

    def _tried(self, call: Call, answered: str | None) -> tuple[str, ...]:
        failed = [*call.skipped, *(group for group in attempts.pop(call.request_id) if group != answered)]
        if answered is not None and answered != call.info.alias and len(failed) == len(call.skipped):
            # The failure callback may not have run yet: infer from the configured order.
            chain = [call.info.alias, *fallback_chain(self.config, call.info.alias)]
            failed = [
                *call.skipped,
                *(chain[: chain.index(answered)] if answered in chain else [call.info.alias]),
            ]
        return tuple(failed)

    @staticmethod
    def _cost(info: AliasInfo, usage: Usage, table_usd: float | None) -> CallCost:
        return token_cost(
            info,
            usage.tokens_in,
            usage.tokens_out,
            provider_usd=usage.reported_usd if info.reports_cost else None,
            table_usd=table_usd,
            cached_in=usage.cached_in,
        )

    def _answerer(self, call: Call, response: Any) -> tuple[AliasInfo, dict[str, Any]]:
        """Which alias answered (a fallback, perhaps) and LiteLLM's hidden facts about the answer."""
        answered = self._answered_by(response, call) if response is not None else call.info.alias
        info = call.info if answered == call.info.alias else self._describe(answered)
        return info, getattr(response, "_hidden_params", None) or {}

    def _outcome(self, call: Call, info: AliasInfo, hidden: dict[str, Any], cost: CallCost) -> dict[str, Any]:
        """The fields every result shares: who answered, what was tried, cost and timing."""
        return {
            "model": str(hidden.get("litellm_model_name") or info.litellm_model),
            "alias": info.alias,
            "requested": call.requested,
            "fallbacks_tried": self._tried(call, info.alias),
            "cost_usd": cost.usd,
            "cost_source": cost.source,
            "latency_ms": call.elapsed_ms(),
            "request_id": call.request_id,
            "downgraded_from": call.downgraded_from,
        }

    def _finish_chat(self, call: Call, response: Any) -> ChatResult:
        info, hidden = self._answerer(call, response)
        usage = Usage.of(getattr(response, "usage", None))
        table_usd = hidden.get("response_cost") if not usage.cached_in else None  # ours knows cached rates
        cost = self._cost(info, usage, table_usd)
        choice = response.choices[0]
        result = ChatResult(
            **self._outcome(call, info, hidden, cost),
            text=choice.message.content or "",
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            finish_reason=getattr(choice, "finish_reason", None),
            tool_calls=tool_calls(choice.message),
            cached_tokens=usage.cached_in,
            reasoning_tokens=usage.reasoning,
        )
        self._result_event(call, result)
        return result

    def _result_event(self, call: Call, result: CallResult, extra: dict[str, Any] | None = None) -> None:
        info = call.info if result.alias == call.info.alias else self._describe(result.alias)
        self._event(
            call.kind,
            call.requested,
            info,
            call.request_id,
            call.started,
            tokens_in=0 if result.cached else result.tokens_in,  # a hit consumed no tokens
            tokens_out=0 if result.cached else result.tokens_out,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            fallbacks_tried=list(result.fallbacks_tried),
            model=result.model,
            cached=result.cached,
            saved_usd=result.saved_usd,
            extra={
                **{
                    name: getattr(result, name, 0)
                    for name in ("cached_tokens", "reasoning_tokens")
                    if getattr(result, name, 0)
                },
                **({"downgraded_from": result.downgraded_from} if result.downgraded_from else {}),
                **(extra or {}),
            },
        )

    def _fail(self, call: Call, error: Exception) -> LLMCfgError:
        failed = attempts.pop(call.request_id)
        tried = (call.info.alias, *(g for g in failed if g != call.info.alias))
        if isinstance(error, BudgetExceededError):
            tried = ()  # blocked before anything was sent
        translated = (
            error
            if isinstance(error, LLMCfgError)
            else translate(
                error,
                alias=call.info.alias,
                model=call.info.litellm_model,
                tried=tried,
                secrets=self._runtime.secrets(),
            )
        )
        self._event(
            call.kind,
            call.requested,
            call.info,
            call.request_id,
            call.started,
            error=translated,
            fallbacks_tried=list(tried),
        )
        return translated

    def _event(
        self,
        kind: str,
        requested: str,
        info: AliasInfo | None,
        request_id: str,
        started: float,
        *,
        error: LLMCfgError | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float | None = 0.0,
        cost_source: str = "none",
        fallbacks_tried: list[str] | None = None,
        model: str | None = None,
        cached: bool = False,
        saved_usd: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "request_id": request_id,
            "kind": kind,
            "requested": requested,
            "alias": info.alias if info else None,
            "model": model or (info.litellm_model if info else None),
            "provider": info.provider if info else None,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost_usd if error is None else 0.0,
            "cost_source": cost_source if error is None else "none",
            "cached": cached,
            "saved_usd": saved_usd,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "status": "ok"
            if error is None
            else "blocked"
            if isinstance(error, BudgetExceededError)
            else "error",
            "error": type(error).__name__ if error is not None else None,
            "fallbacks_tried": fallbacks_tried or [],
        }
        if error is not None and isinstance(error, (ProviderError, BudgetExceededError)):
            fields["error_message"] = str(error)
        fields.update(extra or {})
        emit(fields, self._cost_log)
        self.stats.add(fields)
