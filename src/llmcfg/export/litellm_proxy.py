"""``llm_config.yaml`` → a LiteLLM Proxy ``config.yaml``, for a team that outgrows in-process routing.

The Router arguments come from ``routing.compile`` (one implementation of what an alias becomes),
compiled against an environment in which every variable "is set" to its own ``os.environ/NAME``
reference: so keys are written as references the proxy resolves at its start, never as values.
llmcfg's prices go to ``model_info`` (where LiteLLM reads a deployment's own prices). Pure: no
litellm import, no network, no key read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from llmcfg.config import envrefs
from llmcfg.config.aliases import describe
from llmcfg.config.schema import Config
from llmcfg.routing.compile import compile_router

__all__ = ["ProxyExport", "proxy_config"]

# Router settings the proxy accepts under router_settings (Router.__init__ arguments).
_ROUTER_KEYS = (
    "num_retries",
    "timeout",
    "cooldown_time",
    "allowed_fails",
    "retry_after",
    "fallbacks",
    "content_policy_fallbacks",
    "context_window_fallbacks",
    "routing_strategy",
    "optional_pre_call_checks",
    "redis_url",
)
# model_info.mode accepted by the proxy's schema (litellm.proxy._types.ModelInfo).
_PROXY_MODES = ("chat", "embedding", "completion")
_LOCAL_ONLY_PROVIDERS = ("rapidocr/",)  # llmcfg's in-process providers: no proxy can serve them


class _References(Mapping[str, str]):
    """An environment where every variable holds its own proxy reference, ``os.environ/NAME``."""

    def __getitem__(self, name: str) -> str:
        return f"os.environ/{name}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True)
class ProxyExport:
    """The proxy config as data, and what could not be carried over (one sentence each)."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = "# LiteLLM Proxy config written by `llmcfg export litellm-proxy`; keys are os.environ/ references.\n"
        return header + yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)


def _price_info(config: Config, alias: str) -> dict[str, Any]:
    """The alias's own prices (``price:``) as LiteLLM's model_info keys; table prices the proxy knows."""
    info: dict[str, Any] = {}
    price = config.models[alias].price
    facts = describe(config, alias)
    if price is not None:
        if price.input_per_mtok is not None:
            info["input_cost_per_token"] = price.input_per_mtok / 1e6
        if price.output_per_mtok is not None:
            info["output_cost_per_token"] = price.output_per_mtok / 1e6
        if price.cached_input_per_mtok is not None:
            info["cache_read_input_token_cost"] = price.cached_input_per_mtok / 1e6
        if isinstance(price.per_image, dict):  # LiteLLM takes one number: the dearest size counts
            info["output_cost_per_image"] = max(price.per_image.values(), default=None)
        elif price.per_image is not None:
            info["output_cost_per_image"] = price.per_image
    if facts.mode in _PROXY_MODES:
        info["mode"] = facts.mode
    if config.models[alias].context_window is not None:
        info["max_input_tokens"] = config.models[alias].context_window
    if config.models[alias].vision is not None:
        info["supports_vision"] = config.models[alias].vision
    return info


def _api_base(config: Config, alias: str, warnings: list[str]) -> str | None:
    """A whole reference becomes ``os.environ/NAME``; a URL with references inside is resolved now."""
    provider = config.providers.get(config.models[alias].model.partition("/")[0])
    if provider is None or provider.api_base is None:
        return None
    if envrefs.is_reference(provider.api_base) or not envrefs.parse(provider.api_base):
        return None  # compile already wrote it right
    warnings.append(
        f"alias {alias!r}: api_base {provider.api_base!r} was resolved from this environment "
        "(the proxy reads only whole os.environ/NAME values)"
    )
    return envrefs.resolve(provider.api_base, alias=alias)


def _key_warnings(config: Config) -> list[str]:
    warnings = []
    for name, provider in config.providers.items():
        keys = provider.api_key if isinstance(provider.api_key, list) else [provider.api_key or ""]
        for key in keys:
            for ref in envrefs.parse(key):
                if ref.default is not None:
                    warnings.append(
                        f"providers.{name}.api_key: the default of ${{{ref.name}:-...}} is not carried "
                        f"over; set {ref.name} where the proxy runs"
                    )
    return warnings


def proxy_config(config: Config) -> ProxyExport:
    """The LiteLLM Proxy config for ``config``: ``model_list``, ``router_settings``, prices."""
    plan = compile_router(config, environ=_References())
    warnings = _key_warnings(config)
    local = {alias for alias, entry in config.models.items() if entry.model.startswith(_LOCAL_ONLY_PROVIDERS)}
    for alias in sorted(local):
        warnings.append(f"alias {alias!r} ({config.models[alias].model}) runs inside llmcfg only; left out")
    model_list = []
    for deployment in plan.arguments["model_list"]:
        alias = deployment["model_name"]
        if alias in local:
            continue
        params = dict(deployment["litellm_params"])
        base = _api_base(config, alias, warnings)
        if base is not None:
            params["api_base"] = base
        model_list.append(
            {
                "model_name": alias,
                "litellm_params": params,
                "model_info": {**deployment["model_info"], **_price_info(config, alias)},
            }
        )
    settings: dict[str, Any] = {}
    for key in _ROUTER_KEYS:
        if key not in plan.arguments:
            continue
        value = plan.arguments[key]
        if key.endswith("fallbacks"):
            value = [
                {alias: [name for name in chain if name not in local]}
                for entry in value
                for alias, chain in entry.items()
                if alias not in local
            ]
            if key != "content_policy_fallbacks":
                value = [entry for entry in value if any(entry.values())]
        settings[key] = value
    return ProxyExport({"model_list": model_list, "router_settings": settings}, warnings)
