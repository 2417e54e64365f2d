"""Config → arguments for ``litellm.Router``. Pure: no litellm import, no I/O but the environment.

Each alias becomes a model group; a provider with several keys (a YAML list of references, or one
variable holding ``key1,key2,key3``) gives the group one deployment per key, which is how LiteLLM
load-balances and cools down a key pool. llmcfg's own keys (price, mode,
vision) never reach LiteLLM's ``litellm_params``: unknown keys there are sent to the provider.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmcfg.config import envrefs
from llmcfg.config.aliases import describe, litellm_model
from llmcfg.config.schema import Config
from llmcfg.exceptions import CredentialError, LLMCfgError, MissingDependencyError
from llmcfg.images.models import IMAGE_PARAMS
from llmcfg.ocr.engine import EXTRA_HINT as OCR_EXTRA_HINT
from llmcfg.ocr.engine import available as ocr_engine_installed

__all__ = [
    "NO_KEY",
    "PROMPT_CACHE_MARKERS",
    "RouterPlan",
    "compile_router",
    "deployments_for",
    "prompt_cache_points",
]

# LiteLLM providers whose prompt caching is asked for per message (cache_control; for gemini LiteLLM
# turns the marked messages into a cachedContents resource); OpenAI caches long prefixes by itself,
# and other providers would reject the unknown field.
PROMPT_CACHE_MARKERS = frozenset({"anthropic", "bedrock", "vertex_ai", "openrouter", "gemini"})

# Sent as the key of a provider declared without `api_key`. LiteLLM fills a missing (or empty) key
# from the environment (OPENAI_API_KEY for every kind: openai server, wherever its api_base points),
# so a key would reach a server it was never declared for. Cloud kinds that sign requests with
# their own credentials (no API key) are left alone.
NO_KEY = "llmcfg-no-key"
_SIGNED_KINDS = frozenset({"bedrock", "sagemaker", "sagemaker_chat", "vertex_ai", "vertex_ai_beta"})


def prompt_cache_points(litellm_model: str, cache_prompt: bool | int | None) -> list[dict[str, Any]]:
    """LiteLLM's ``cache_control_injection_points`` for a call's ``cache_prompt``: True marks the
    system prompt, a number N the last N messages. Empty where the provider needs no marker (OpenAI
    caches long prefixes by itself) or has no prompt caching."""
    if not cache_prompt or litellm_model.partition("/")[0] not in PROMPT_CACHE_MARKERS:
        return []
    if cache_prompt is True:
        return [{"location": "message", "role": "system"}]
    return [{"location": "message", "index": -index} for index in range(int(cache_prompt), 0, -1)]


@dataclass(frozen=True)
class RouterPlan:
    """What to build the Router with, and which aliases cannot be used (and why)."""

    arguments: dict[str, Any]
    unavailable: dict[str, LLMCfgError] = field(default_factory=dict)


def deployments_for(config: Config, alias: str, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """One deployment per API key of the alias's provider; CredentialError if a variable is unset."""
    entry = config.models[alias]
    provider_name, model = litellm_model(config, entry.model)
    provider = config.providers.get(provider_name)
    base: dict[str, Any] = {"model": model}
    keys: list[str | None] = [None]
    if provider is not None:
        base.update(provider.params)
        if provider.api_base:
            base["api_base"] = envrefs.resolve(
                provider.api_base, alias=alias, provider=provider_name, environ=environ
            )
        if provider.api_key:
            raw = provider.api_key if isinstance(provider.api_key, list) else [provider.api_key]
            keys = [
                key
                for ref in raw
                for key in envrefs.key_pool(
                    envrefs.resolve(ref, alias=alias, provider=provider_name, environ=environ)
                )
            ]
            keys = [key or NO_KEY for key in keys]  # an empty key is "none", not "ask the environment"
        elif (provider.kind or provider_name) not in _SIGNED_KINDS and "api_key" not in provider.params:
            keys = [NO_KEY]  # never LiteLLM's fallback to the environment
    # An image alias's size/quality/style/n/response_format are defaults imagine() applies (and
    # checks, and prices); as deployment params LiteLLM would refuse style and response_format.
    image_defaults = IMAGE_PARAMS if describe(config, alias).mode == "image_generation" else ()
    base.update({name: value for name, value in entry.params.items() if name not in image_defaults})
    if entry.cache_prompt and model.partition("/")[0] in PROMPT_CACHE_MARKERS:
        base["cache_control_injection_points"] = prompt_cache_points(model, True)
    deployments = []
    for index, key in enumerate(keys):
        params = dict(base)
        if key is not None:
            params["api_key"] = key
        deployments.append(
            {
                "model_name": alias,
                "litellm_params": params,
                "model_info": {"id": f"{alias}#{index}", "alias": alias},
            }
        )
    return deployments


def compile_router(config: Config, environ: Mapping[str, str] | None = None) -> RouterPlan:
    """Router keyword arguments for every alias whose credentials resolve now."""
    env = os.environ if environ is None else environ
    model_list: list[dict[str, Any]] = []
    unavailable: dict[str, LLMCfgError] = {}
    for alias in config.models:
        try:
            model_list.extend(deployments_for(config, alias, env))
        except CredentialError as error:
            unavailable[alias] = error
        if (
            alias not in unavailable
            and config.models[alias].model.startswith("rapidocr/")
            and not ocr_engine_installed()
        ):
            unavailable[alias] = MissingDependencyError(alias, OCR_EXTRA_HINT)

    def usable(chains: dict[str, list[str]]) -> list[dict[str, list[str]]]:
        return [
            {alias: [name for name in chain if name not in unavailable]}
            for alias, chain in chains.items()
            if alias not in unavailable and any(name not in unavailable for name in chain)
        ]

    fallbacks = usable(config.fallbacks)
    settings = config.router
    arguments: dict[str, Any] = {
        "model_list": model_list,
        "num_retries": settings.num_retries,
        "timeout": settings.timeout_s,
        "cooldown_time": settings.cooldown_s,
        "allowed_fails": settings.allowed_fails,
        "retry_after": 0,
    }
    if fallbacks:
        arguments["fallbacks"] = fallbacks
        # LiteLLM falls back on a content-policy refusal unless told where to: an empty chain
        # per alias keeps the refusal, as the caller should see it (router.fallback_on_content_policy).
        arguments["content_policy_fallbacks"] = (
            fallbacks
            if settings.fallback_on_content_policy
            else [{alias: []} for entry in fallbacks for alias in entry]
        )
    on_context = usable(config.fallbacks_on_context)
    if on_context:
        arguments["context_window_fallbacks"] = on_context
    return RouterPlan(arguments, unavailable)
