"""Per-alias checks against the tables: is the model one LiteLLM (or llmcfg's image table) knows, are
the alias's ``params`` spelled right and accepted by the model, and is no key hidden in them.

A typo in a model name (``anthropic/claude-3-5-sonet``) would otherwise validate and fail at the
first call, or worse, be reported as a capability problem ("does not accept images"). Reads the
price file and llmcfg's image table only: no litellm import.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from llmcfg.config import envrefs
from llmcfg.config.aliases import describe, litellm_model
from llmcfg.config.positions import closest
from llmcfg.config.schema import Config, ModelAlias, ProviderConfig
from llmcfg.images.models import IMAGE_PARAMS, ImageCaps, image_model, with_override
from llmcfg.money.prices import lookup, price_table

__all__ = [
    "CATALOGUED_PROVIDERS",
    "KNOWN_PARAMS",
    "LITERAL_KEY",
    "alias_problems",
    "literal_key_problems",
    "prompt_cache_warnings",
    "provider_problems",
]

# Providers whose public models LiteLLM's table lists (near) completely: a name missing there is a
# typo or a model too new for it. Routers and hosts of arbitrary models (openrouter, ollama,
# together_ai, a kind: openai server of your own ...) accept any name.
CATALOGUED_PROVIDERS = frozenset({"openai", "anthropic", "gemini", "mistral", "deepseek", "xai"})

LITERAL_KEY = "an API key is never written literally: use ${VAR}, ${VAR:-default} or os.environ/VAR"

# Call parameters LiteLLM maps for some provider (OpenAI's names plus common extras). An alias
# ``params`` key close to one of these but not equal to any is a typo; other keys pass through.
KNOWN_PARAMS = frozenset(
    {
        "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "n", "stop",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
        "seed", "response_format", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort",
        "thinking", "timeout", "extra_headers", "extra_body", "stream_options", "modalities", "audio",
        "prediction", "service_tier", "web_search_options", "metadata", "store", "verbosity",
        "safety_settings", "size", "quality", "style", "dimensions", "encoding_format", "api_version",
        "organization", "max_retries", "drop_params", "safe_prompt", "candidate_count",
    }
)  # fmt: skip

# LiteLLM providers with prompt caching: marked per message (anthropic, bedrock, vertex_ai,
# openrouter, gemini's context caching) or automatic for long prefixes (openai, azure, deepseek, xai).
PROMPT_CACHING_PROVIDERS = frozenset(
    {"anthropic", "bedrock", "vertex_ai", "openrouter", "gemini", "openai", "azure", "deepseek", "xai"}
)

_SECRET_PARAMS = frozenset({"api_key", "aws_secret_access_key", "aws_session_token", "azure_ad_token"})
_KEY_PREFIXES = ("sk-", "sk_", "sk-ant-", "AIza", "xai-", "gsk_", "hf_", "r8_", "pk-", "key-")


def _looks_like_key(value: str) -> bool:
    return value.startswith(_KEY_PREFIXES) or (
        len(value) >= 20 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    )


def literal_key_problems(value: Any) -> str | None:
    """Why ``value`` (where a key goes) holds a literal key, or None: a non-reference, or a
    reference whose ``:-default`` looks like a key."""
    if not isinstance(value, str) or envrefs.syntax_error(value) is not None:
        return None
    if not envrefs.is_reference(value):
        shell = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", value)  # $VAR: shell style, not expanded
        return f"{value} is not expanded (shell style): write ${{{shell[1]}}}" if shell else LITERAL_KEY
    if any(ref.default and _looks_like_key(ref.default) for ref in envrefs.parse(value)):
        return f"{LITERAL_KEY}; a key as the ${{VAR:-default}} is still written literally: leave it to the environment"
    return None


def _secret_params(params: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for name, value in params.items():
        if name in _SECRET_PARAMS or name.endswith("_api_key"):
            problem = literal_key_problems(value)
            if problem:
                yield f"{where}.params.{name}", problem


def provider_problems(name: str, provider: ProviderConfig) -> Iterator[tuple[str, str]]:
    keys = provider.api_key if isinstance(provider.api_key, list) else [provider.api_key]
    for index, key in enumerate(keys):
        where = f"providers.{name}.api_key" + (f".{index}" if isinstance(provider.api_key, list) else "")
        problem = literal_key_problems(key)
        if problem:
            yield where, problem
    yield from _secret_params(provider.params, f"providers.{name}")


def _custom_server(config: Config, provider_name: str) -> bool:
    provider = config.providers.get(provider_name)
    return provider is not None and (
        bool(provider.api_base) or (provider.kind is not None and provider.kind != provider_name)
    )


def _table_names(kind: str) -> list[str]:
    names = []
    for key, entry in price_table().items():
        if isinstance(entry, dict) and entry.get("litellm_provider") == kind:
            names.append(key.removeprefix(f"{kind}/"))
    return names


def _unknown_model(config: Config, alias: str, entry: ModelAlias) -> str | None:
    provider_name, routed = litellm_model(config, entry.model)
    kind, _, bare = routed.partition("/")
    if kind not in CATALOGUED_PROVIDERS or _custom_server(config, provider_name):
        return None
    if lookup(routed) is not None or image_model(routed) is not None:
        return None
    if entry.price is not None and (entry.mode is not None or entry.vision is not None):
        return None  # declared by hand: a model too new for the table
    match = difflib.get_close_matches(bare, _table_names(kind), n=1, cutoff=0.6)
    hint = f" (did you mean '{provider_name}/{match[0]}'?)" if match else ""
    return (
        f"{bare!r} is not in LiteLLM's table of {kind} models{hint}; check the spelling, or, for a model newer "
        "than LiteLLM's table, declare price and mode (or vision) on the alias"
    )


def _image_param_problems(alias: str, params: dict[str, Any], caps: ImageCaps) -> Iterator[str]:
    accepted: dict[str, tuple[Any, ...]] = {
        "size": caps.sizes,
        "quality": caps.qualities,
        "style": caps.styles if (caps.sizes or caps.qualities) else (),
        "response_format": ("url", "b64_json"),
    }
    for name, options in accepted.items():
        value = params.get(name)
        if value is not None and options and value not in options:
            yield f"alias {alias!r} sets {name} {value!r}, which its model does not accept; it accepts: {', '.join(map(str, options))}"
    count = params.get("n")
    if count is not None and (not isinstance(count, int) or count < 1 or (caps.max_n and count > caps.max_n)):
        yield f"alias {alias!r} sets n {count!r}; its model makes 1 to {caps.max_n or 'any number of'} images per call"


def alias_problems(config: Config, alias: str) -> Iterator[tuple[str, str]]:
    """(dotted location, message) for each problem of one alias (its provider is known)."""
    entry = config.models[alias]
    unknown = _unknown_model(config, alias, entry)
    if unknown:
        yield f"models.{alias}.model", unknown
        return
    yield from _secret_params(entry.params, f"models.{alias}")
    info = describe(config, alias)
    if info.mode == "image_generation":
        caps = with_override(image_model(info.litellm_model) or ImageCaps(), entry.image)
        for message in _image_param_problems(alias, entry.params, caps):
            yield f"models.{alias}.params", message
        return
    for name in entry.params:
        if name in KNOWN_PARAMS or name in _SECRET_PARAMS or name in IMAGE_PARAMS:
            continue
        hint = closest(name, sorted(KNOWN_PARAMS))
        if hint:
            yield f"models.{alias}.params.{name}", f"unknown parameter {name!r}{hint}"


def prompt_cache_warnings(config: Config) -> list[str]:
    """``cache_prompt: true`` on an alias whose provider has no prompt caching does nothing."""
    warnings = []
    for alias, entry in config.models.items():
        if not entry.cache_prompt:
            continue
        provider_name, routed = litellm_model(config, entry.model)
        kind = routed.partition("/")[0]
        own_server = _custom_server(config, provider_name) and kind == "openai"
        if kind not in PROMPT_CACHING_PROVIDERS or own_server:
            where = "a server of your own" if own_server else f"provider kind {kind!r}"
            warnings.append(
                f"models.{alias}.cache_prompt: {where} has no prompt caching LiteLLM can ask for; "
                "the setting does nothing there"
            )
    return warnings
