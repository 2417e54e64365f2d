"""What a call came to: which alias answered, what was tried, tokens and cost, the typed error, and
the one ``llm.call`` event that records it. Shared by every kind; the pipeline calls these steps."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from llmcfg.calls.hooks import CallHook
from llmcfg.calls.usage import Usage, field, tool_calls
from llmcfg.config.aliases import AliasInfo, describe
from llmcfg.config.schema import Config
from llmcfg.config.validation import fallback_chain
from llmcfg.exceptions import BudgetExceededError, CapabilityError, ImageError, LLMCfgError, ProviderError
from llmcfg.money.cost import CallCost, token_cost
from llmcfg.money.events import CostLog, emit
from llmcfg.money.usage_stats import UsageStats
from llmcfg.results import CallResult, ChatResult
from llmcfg.routing.errors import scrubbed, translate
from llmcfg.routing.router import RouterRuntime, attempts

__all__ = ["Call", "Outcomes"]


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
    skipped: tuple[str, ...] = ()  # aliases passed over before sending (no key, no extra)
    skip_reasons: tuple[str, ...] = ()  # why, one per skipped alias ("OPENAI_API_KEY not set")

    def skipped_why(self) -> dict[str, str]:
        return dict(zip(self.skipped, self.skip_reasons, strict=True))

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


class Outcomes:
    """Reading responses and recording calls. ``CallCore`` builds on it."""

    config: Config
    stats: UsageStats
    hooks: list[CallHook]
    _runtime: RouterRuntime
    _aliases: dict[str, AliasInfo]
    _cost_log: CostLog | None

    def _describe(self, alias: str) -> AliasInfo:
        """What an alias is (model, provider, prices, capabilities): worked out once per alias."""
        info = self._aliases.get(alias)
        if info is None:
            info = self._aliases[alias] = describe(self.config, alias)
        return info

    def _answered_by(self, response: Any, call: Call) -> str:
        hidden = field(response, "_hidden_params") or {}
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
            cache_write_in=usage.cache_write_in,
        )

    def _answerer(self, call: Call, response: Any) -> tuple[AliasInfo, dict[str, Any]]:
        """Which alias answered (a fallback, perhaps) and LiteLLM's hidden facts about the answer."""
        answered = self._answered_by(response, call) if response is not None else call.info.alias
        info = call.info if answered == call.info.alias else self._describe(answered)
        return info, field(response, "_hidden_params") or {}

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
            "skipped": call.skipped_why(),
        }

    def _read_chat(self, call: Call, response: Any) -> ChatResult:
        info, hidden = self._answerer(call, response)
        usage = Usage.of(getattr(response, "usage", None))
        # LiteLLM's figure knows cached and tiered rates, but it is the response's own usage.cost when
        # there is one: trusted only from a provider that reports cost (``_cost``), priced here otherwise
        table_usd = hidden.get("response_cost") if usage.reported_usd is None else None
        cost = self._cost(info, usage, table_usd)
        choice = response.choices[0]
        return ChatResult(
            **self._outcome(call, info, hidden, cost),
            text=choice.message.content or "",
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            finish_reason=getattr(choice, "finish_reason", None),
            tool_calls=tool_calls(choice.message),
            cached_tokens=usage.cached_in,
            cache_write_tokens=usage.cache_write_in,
            reasoning_tokens=usage.reasoning,
        )

    # -- the one event ----------------------------------------------------------------------------
    def _result_event(self, call: Call, result: CallResult, extra: dict[str, Any] | None = None) -> None:
        info = call.info if result.alias == call.info.alias else self._describe(result.alias)
        fields = self._fields(call.kind, call.requested, info, call.request_id, call.started)
        fields.update(
            model=result.model,
            tokens_in=0 if result.cached else result.tokens_in,  # a hit consumed no tokens
            tokens_out=0 if result.cached else result.tokens_out,
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            cached=result.cached,
            saved_usd=result.saved_usd,
            fallbacks_tried=list(result.fallbacks_tried),
        )
        for name in ("cached_tokens", "cache_write_tokens", "reasoning_tokens"):
            value = getattr(result, name, 0)
            if value:
                fields[name] = value
        if result.downgraded_from:
            fields["downgraded_from"] = result.downgraded_from
        if result.skipped:
            fields["skipped"] = dict(result.skipped)
        if extra:
            fields.update(extra)
        self._send_event(call, fields)

    def _fail(self, call: Call, error: Exception, spent: CallResult | None = None) -> LLMCfgError:
        """The typed error of a failed call, recorded. A provider's error is translated, and its
        ``__cause__`` is a scrubbed stand-in of the original (whose text may echo the key).
        ``spent``: what a stream broken off mid-answer came to; its event carries that cost."""
        failed = attempts.pop(call.request_id)
        tried = (call.info.alias, *(g for g in failed if g != call.info.alias))
        if isinstance(error, (BudgetExceededError, ImageError, CapabilityError)):
            tried = ()  # blocked before anything was sent (a stream's budget, image intake or images
            # for an alias that cannot see)
        translated = error if isinstance(error, LLMCfgError) else None
        if translated is None:
            secrets = self._runtime.secrets()
            translated = translate(
                error, alias=call.info.alias, model=call.info.litellm_model, tried=tried, secrets=secrets
            )
            translated.__cause__ = scrubbed(error, secrets)
        self._error_event(call, call.kind, call.requested, translated, list(tried), spent=spent)
        return translated

    def _interrupted(self, call: Call, error: BaseException) -> None:
        """A call cancelled (asyncio) or interrupted (Ctrl-C) while in flight still gets its event."""
        attempts.pop(call.request_id)
        self._error_event(call, call.kind, call.requested, error, [])

    def _error_event(
        self,
        call: Call | None,
        kind: str,
        requested: str,
        error: BaseException,
        tried: list[str],
        *,
        request_id: str = "",
        started: float = 0.0,
        spent: CallResult | None = None,
    ) -> None:
        fields = self._fields(
            kind,
            requested,
            call.info if call else None,
            call.request_id if call else request_id,
            call.started if call else started,
        )
        fields["status"] = "blocked" if isinstance(error, BudgetExceededError) else "error"
        fields["error"] = type(error).__name__
        fields["fallbacks_tried"] = tried
        if isinstance(error, (ProviderError, BudgetExceededError)):
            fields["error_message"] = str(error)
        if spent is not None:  # a stream broken off mid-answer: what arrived was generated, and paid
            fields.update(
                tokens_in=spent.tokens_in,
                tokens_out=spent.tokens_out,
                cost_usd=spent.cost_usd,
                cost_source=spent.cost_source,
                stream="broken",
            )
        self._send_event(call, fields)

    @staticmethod
    def _fields(
        kind: str, requested: str, info: AliasInfo | None, request_id: str, started: float
    ) -> dict[str, Any]:
        """An event with every documented field, as for a call that did nothing (yet)."""
        return {
            "request_id": request_id,
            "kind": kind,
            "requested": requested,
            "alias": info.alias if info else None,
            "model": info.litellm_model if info else None,
            "provider": info.provider if info else None,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "cost_source": "none",
            "cached": False,
            "saved_usd": 0.0,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "status": "ok",
            "error": None,
            "fallbacks_tried": [],
        }

    def _send_event(self, call: Call | None, fields: dict[str, Any]) -> None:
        self.stats.add(fields)  # first: counted even when the application's logging raises
        emit(fields, self._cost_log, self.config.logging.events)
        for hook in self.hooks:
            hook.finished(call, fields)
