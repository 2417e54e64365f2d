"""What a config compiles to, per alias, for ``llmcfg plan``: no litellm import, no key values."""

from __future__ import annotations

from dataclasses import dataclass

from llmcfg.config import envrefs
from llmcfg.config.aliases import describe
from llmcfg.config.model_checks import prompt_cache_warnings
from llmcfg.config.schema import Config
from llmcfg.config.validation import CUSTOM_PROVIDERS, fallback_chain

__all__ = ["PlanRow", "credential_warnings", "key_status", "plan_rows"]


@dataclass(frozen=True)
class PlanRow:
    alias: str
    provider: str
    model: str
    mode: str
    input_per_mtok: float | None
    output_per_mtok: float | None
    per_image: float | None
    price_source: str
    context_window: int | None
    vision: bool
    fallbacks: tuple[str, ...]
    keys: str  # "set", "missing: VAR", "none"


def _keys(config: Config, provider: str) -> list[str]:
    settings = config.providers.get(provider)
    if settings is None or settings.api_key is None:
        return []
    return settings.api_key if isinstance(settings.api_key, list) else [settings.api_key]


def key_status(config: Config, provider: str) -> str:
    if provider in CUSTOM_PROVIDERS and provider not in config.providers:
        from llmcfg.ocr.engine import available

        return "offline" if available() else "offline: pip install 'llmcfg[ocr-local]'"
    keys = _keys(config, provider)
    if not keys:
        return "none"
    missing = sorted({name for key in keys for name in envrefs.missing_variables(key)})
    if missing:
        return "missing: " + ", ".join(missing)
    return "set" if len(keys) == 1 else f"set ({len(keys)} keys)"


def plan_rows(config: Config) -> list[PlanRow]:
    rows = []
    for alias in config.models:
        info = describe(config, alias)
        rows.append(
            PlanRow(
                alias=alias,
                provider=info.provider,
                model=info.litellm_model,
                mode=info.mode,
                input_per_mtok=info.input_per_token * 1e6 if info.input_per_token is not None else None,
                output_per_mtok=info.output_per_token * 1e6 if info.output_per_token is not None else None,
                per_image=info.per_image,
                price_source=info.price_source,
                context_window=info.context_window,
                vision=info.vision,
                fallbacks=tuple(fallback_chain(config, alias)),
                keys=key_status(config, info.provider),
            )
        )
    return rows


def credential_warnings(config: Config) -> list[str]:
    """What ``validate`` warns about: one line per provider setting (its key, ``api_base``, a
    parameter) whose variables are unset, naming the aliases that need them, then settings that do nothing (``cache_prompt`` where the provider has
    no prompt caching)."""
    warnings = []
    for provider, settings in config.providers.items():
        users = [a for a, m in config.models.items() if m.model.partition("/")[0] == provider]
        if not users:
            continue
        status = key_status(config, provider)
        unset = [("api_key", status.removeprefix("missing: "))] if status.startswith("missing") else []
        # Any other setting read from the environment fails the same way at first use: say so now.
        others = {"api_base": settings.api_base, **{f"params.{k}": v for k, v in settings.params.items()}}
        for name, value in others.items():
            missing = envrefs.missing_variables(value) if isinstance(value, str) else []
            if missing:
                unset.append((name, ", ".join(missing)))
        for name, variables in unset:
            warnings.append(
                f"providers.{provider}.{name}: {variables} not set; aliases {', '.join(users)} will fail until it is"
            )
    return warnings + prompt_cache_warnings(config)
