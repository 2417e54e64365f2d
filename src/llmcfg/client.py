"""The facade: ``LLM.chat`` / ``achat``, which resolve an alias, call the Router and report the cost.

Sync and async share every step but the one that waits (``_Call`` before, ``_finish``/``_fail``
after), so there is one implementation of what a call means, not two.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcfg.aliases import AliasInfo, describe
from llmcfg.config import closest, load_config
from llmcfg.cost import token_cost
from llmcfg.events import CostLog, emit
from llmcfg.exceptions import LLMCfgError, ProviderError, UnknownAliasError
from llmcfg.provider_errors import translate
from llmcfg.results import ChatResult
from llmcfg.routing import REQUEST_ID_KEY, RouterRuntime, attempts
from llmcfg.schema import QUALITIES, Config
from llmcfg.validation import fallback_chain

__all__ = ["LLM"]

Message = dict[str, Any]


@dataclass
class _Call:
    """One call in flight: what was asked, which alias serves it, when it started."""

    kind: str
    requested: str
    info: AliasInfo
    request_id: str
    started: float

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)


def _messages(prompt: str | None, messages: list[Message] | None, system: str | None) -> list[Message]:
    if (prompt is None) == (messages is None):
        raise TypeError("pass either a prompt or messages=[...], not both and not neither")
    built: list[Message] = list(messages) if messages is not None else [{"role": "user", "content": prompt}]
    if system is not None:
        built.insert(0, {"role": "system", "content": system})
    return built


class LLM:
    """Every model of one config, behind ``chat`` and friends. Cheap to build; the Router comes on
    first use. Share one per process: it holds the connection pools."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._runtime = RouterRuntime(config)
        self._aliases: dict[str, AliasInfo] = {}
        cost_log = config.logging.cost_log
        self._cost_log = CostLog(config.resolve_path(cost_log)) if cost_log else None

    def _describe(self, alias: str) -> AliasInfo:
        info = self._aliases.get(alias)
        if info is None:
            info = self._aliases[alias] = describe(self.config, alias)
        return info

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> LLM:
        """Load and validate ``path`` (default: $LLMCFG_CONFIG, else ./llm_config.yaml)."""
        return cls(load_config(path))

    def __repr__(self) -> str:
        return f"LLM(config={self.config.source!r}, aliases={list(self.config.models)})"

    # -- choosing an alias ------------------------------------------------------------------------
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
        presets = getattr(self.config.presets, kind, None)
        alias = getattr(presets, quality, None) if presets is not None else None
        if alias is None:
            raise UnknownAliasError(
                f"no preset presets.{kind}.{quality} in the config; add it or pass model="
            )
        return alias, f"{kind}/{quality}"

    def _start(self, kind: str, preset_kind: str, quality: str | None, model: str | None) -> _Call:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        try:
            alias, requested = self.resolve(preset_kind, quality=quality, model=model)
            info = self._describe(alias)
            self._runtime.ensure_available(alias)
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
        return _Call(kind, requested, info, request_id, time.perf_counter())

    # -- chat -------------------------------------------------------------------------------------
    def chat(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> ChatResult:
        """Send a prompt (or ``messages``) to an alias or the text preset of ``quality``.

        Extra keyword arguments (temperature, max_tokens, tools, response_format, ...) go to LiteLLM.
        """
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        try:
            response = self._runtime.router.completion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._finish_chat(call, response)

    async def achat(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        quality: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> ChatResult:
        """``chat``, awaited."""
        body = _messages(prompt, messages, system)
        call = self._start("chat", "text", quality, model)
        try:
            response = await self._runtime.router.acompletion(
                model=call.info.alias, messages=body, **self._params(call, params)
            )
        except Exception as error:
            raise self._fail(call, error) from error
        return self._finish_chat(call, response)

    # -- shared steps -----------------------------------------------------------------------------
    @staticmethod
    def _params(call: _Call, params: dict[str, Any]) -> dict[str, Any]:
        metadata = dict(params.pop("metadata", None) or {})
        metadata[REQUEST_ID_KEY] = call.request_id
        return {**params, "metadata": metadata}

    def _answered_by(self, response: Any, call: _Call) -> str:
        hidden = getattr(response, "_hidden_params", None) or {}
        group = (hidden.get("additional_headers") or {}).get("x-litellm-model-group")
        if group in self.config.models:
            return str(group)
        model_id = str(hidden.get("model_id") or "")
        alias = model_id.partition("#")[0]
        return alias if alias in self.config.models else call.info.alias

    def _tried(self, call: _Call, answered: str | None) -> tuple[str, ...]:
        failed = [group for group in attempts.pop(call.request_id) if group != answered]
        if answered is not None and answered != call.info.alias and not failed:
            # The failure callback may not have run yet: infer from the configured order.
            chain = [call.info.alias, *fallback_chain(self.config, call.info.alias)]
            failed = chain[: chain.index(answered)] if answered in chain else [call.info.alias]
        return tuple(failed)

    def _finish_chat(self, call: _Call, response: Any) -> ChatResult:
        answered = self._answered_by(response, call)
        info = call.info if answered == call.info.alias else self._describe(answered)
        hidden = getattr(response, "_hidden_params", None) or {}
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        provider_usd = getattr(usage, "cost", None)  # OpenRouter reports it; LiteLLM's table lacks it
        cost = token_cost(
            info, tokens_in, tokens_out, provider_usd=provider_usd, table_usd=hidden.get("response_cost")
        )
        choice = response.choices[0]
        result = ChatResult(
            text=choice.message.content or "",
            model=str(hidden.get("litellm_model_name") or info.litellm_model),
            alias=answered,
            requested=call.requested,
            fallbacks_tried=self._tried(call, answered),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost.usd,
            cost_source=cost.source,
            latency_ms=call.elapsed_ms(),
            request_id=call.request_id,
            finish_reason=getattr(choice, "finish_reason", None),
        )
        self._event(
            call.kind,
            call.requested,
            info,
            call.request_id,
            call.started,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost.usd,
            cost_source=cost.source,
            fallbacks_tried=list(result.fallbacks_tried),
            model=result.model,
        )
        return result

    def _fail(self, call: _Call, error: Exception) -> LLMCfgError:
        failed = attempts.pop(call.request_id)
        tried = (call.info.alias, *(g for g in failed if g != call.info.alias))
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
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "status": "ok" if error is None else "error",
            "error": type(error).__name__ if error is not None else None,
            "fallbacks_tried": fallbacks_tried or [],
        }
        if error is not None and isinstance(error, ProviderError):
            fields["error_message"] = str(error)
        emit(fields, self._cost_log)
