"""Keyword arguments of a call, checked against what LiteLLM says the alias's provider takes.

LiteLLM sends unknown keyword arguments upstream in the JSON body, so ``temprature=0.2`` reaches
the provider (which ignores it or answers 400, retried as an outage), and ``response_model=Model``
(Instructor's spelling) comes back as ProviderUnavailableError after every retry. Checked here,
before anything is sent: a typo gets the right spelling, an OpenAI parameter this provider does not
take is named with the ones it does, and anything else (a provider's own parameter such as
Anthropic's ``top_k``) still passes through.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from llmcfg.config.model_checks import KNOWN_PARAMS
from llmcfg.exceptions import UnsupportedParameterError

__all__ = ["ROUTER_KEYWORDS", "check_call_params", "supported_params"]

# Keywords the Router or LiteLLM's call itself takes, whatever the provider.
ROUTER_KEYWORDS = frozenset(
    {
        "timeout", "metadata", "extra_body", "extra_headers", "num_retries", "fallbacks",
        "context_window_fallbacks", "content_policy_fallbacks", "disable_fallbacks", "stream",
        "stream_options", "drop_params", "api_version", "base_model", "mock_response", "max_retries",
        "cache_control_injection_points", "model_kwargs", "specific_deployment", "litellm_metadata",
    }
)  # fmt: skip

# OpenAI-compatible providers: LiteLLM sends them every OpenAI parameter (which ones a model takes
# varies by model, e.g. reasoning_effort), so only typos are refused there.
_PASS_OPENAI_PARAMS = frozenset({"openai", "openrouter", "azure", "custom_openai", "text-completion-openai"})

_EXTRACT_HINT = (
    "chat() does not take response_model: use llm.extract(prompt, schema=Model) (or extract_result) "
    "for a validated Model instance, or pass response_format={'type': 'json_object'} for raw JSON"
)


@cache
def supported_params(litellm_model: str, request_type: str = "chat_completion") -> frozenset[str]:
    """LiteLLM's list of OpenAI parameters the provider of ``provider/model`` takes."""
    from llmcfg.routing.router import import_litellm

    litellm = import_litellm()
    provider, _, model = litellm_model.partition("/")
    found = litellm.get_supported_openai_params(
        model=model, custom_llm_provider=provider, request_type=request_type
    )
    return frozenset(found or ())


@cache
def _openai_params() -> frozenset[str]:
    """Every OpenAI parameter LiteLLM maps for some model: one absent from a provider's list is
    one that provider does not take (rather than a parameter of its own)."""
    return supported_params("openai/gpt-4o") | supported_params("openai/o3") | {"user", "n", "logit_bias"}


@cache
def _known(supported: frozenset[str], own: frozenset[str]) -> frozenset[str]:
    """Every keyword a call may pass (worked out once per provider's list and kind of call)."""
    return supported | ROUTER_KEYWORDS | own


def _close(name: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.8)
    return match[0] if match else None


def check_call_params(
    alias: str,
    litellm_model: str,
    params: Mapping[str, Any],
    *,
    request_type: str = "chat_completion",
    own: Iterable[str] = (),
) -> None:
    """UnsupportedParameterError for the first keyword argument that is a typo or that the
    provider does not take; ``own`` are llmcfg's keywords for this kind of call (already consumed)."""
    if not params:
        return
    supported = supported_params(litellm_model, request_type)
    known = _known(supported, frozenset(own))
    provider = litellm_model.partition("/")[0]
    for name in params:
        if name in known or (name in KNOWN_PARAMS and name not in _openai_params()):
            continue  # a provider's own parameter (top_k, safety_settings): LiteLLM passes it on
        if name == "response_model":
            raise UnsupportedParameterError(_EXTRACT_HINT)
        near = _close(name, known | _openai_params())
        if near is not None and near != name:
            raise UnsupportedParameterError(
                f"unknown keyword argument {name!r} for alias {alias!r} (did you mean {near!r}?)"
            )
        if name in _openai_params() and provider not in _PASS_OPENAI_PARAMS:
            raise UnsupportedParameterError(
                f"alias {alias!r} ({litellm_model}): {provider} does not take {name!r}; "
                f"LiteLLM maps these for it: {', '.join(sorted(supported))}"
            )
