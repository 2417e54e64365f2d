"""Checks that need the whole config: names that must exist, cycles, and capabilities.

A fallback must be able to do the job it stands in for: falling back must never silently degrade
capability (a text-only model behind a vision preset, a chat model behind an image alias).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmcfg.config import envrefs
from llmcfg.config.aliases import describe
from llmcfg.config.model_checks import alias_problems, provider_problems
from llmcfg.config.positions import Positions, closest
from llmcfg.config.schema import QUALITIES, Config
from llmcfg.exceptions import ConfigIssue
from llmcfg.money.prices import known_providers

__all__ = ["CUSTOM_PROVIDERS", "check", "fallback_chain"]

# Providers llmcfg itself registers with LiteLLM (see the offline OCR engine).
CUSTOM_PROVIDERS = frozenset({"rapidocr"})

# What a preset's aliases (and everything behind them) must be able to do.
_PRESET_NEEDS = {
    "text": ("chat", False),
    "vision": ("chat", True),
    "image": ("image_generation", False),
    "embedding": ("embedding", False),
}


def fallback_chain(config: Config, alias: str) -> list[str]:
    """Aliases tried after ``alias``, in order, following fallbacks of fallbacks (no repeats)."""
    seen = [alias]
    queue = list(config.fallbacks.get(alias, []))
    while queue:
        nxt = queue.pop(0)
        if nxt in seen or nxt not in config.models:
            continue
        seen.append(nxt)
        queue.extend(config.fallbacks.get(nxt, []))
    return seen[1:]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def check(config: Config, positions: Positions) -> list[ConfigIssue]:

    issues: list[ConfigIssue] = []

    def flag(location: str, message: str) -> None:
        issues.append(positions.issue(location, message))

    def alias_ref(location: str, name: str) -> bool:
        if name in config.models:
            return True
        flag(location, f"unknown alias {name!r}{closest(name, list(config.models))}")
        return False

    problems: dict[str, str | None] = {}  # each text read once: YAML aliases can repeat a long one
    for location, text in _strings(config.model_dump(mode="json"), ""):
        if text not in problems:
            problems[text] = envrefs.syntax_error(text)
        problem = problems[text]
        if problem:
            flag(location, problem)

    providers_known = known_providers() | CUSTOM_PROVIDERS
    for name, provider in config.providers.items():
        kind = provider.kind or name
        if kind not in providers_known:
            flag(
                f"providers.{name}.kind" if provider.kind else f"providers.{name}",
                f"{kind!r} is not a LiteLLM provider{closest(kind, sorted(providers_known))}; "
                "for an OpenAI-compatible server of your own write kind: openai and api_base",
            )
        for location, message in provider_problems(name, provider):
            flag(location, message)

    for alias, entry in config.models.items():
        prefix = entry.model.partition("/")[0]
        if prefix not in config.providers and prefix not in CUSTOM_PROVIDERS:
            flag(
                f"models.{alias}.model",
                f"unknown provider {prefix!r}{closest(prefix, list(config.providers))}; "
                f"declare it under providers (known: {', '.join(config.providers) or 'none'})",
            )
        else:
            for location, message in alias_problems(config, alias):
                flag(location, message)

    for kind, presets in config.presets:
        if presets is None:
            continue
        for quality in QUALITIES:
            name = getattr(presets, quality)
            if name is not None:
                alias_ref(f"presets.{kind}.{quality}", name)

    for section in ("fallbacks", "fallbacks_on_context"):
        for alias, chain in getattr(config, section).items():
            alias_ref(f"{section}.{alias}", alias)
            for index, name in enumerate(chain):
                alias_ref(f"{section}.{alias}.{index}", name)
    issues.extend(_cycles(config, positions))

    if config.ocr.modes and config.ocr.default_mode not in config.ocr.modes:
        flag(
            "ocr.default_mode",
            f"unknown mode {config.ocr.default_mode!r}{closest(config.ocr.default_mode, list(config.ocr.modes))}",
        )
    for index, name in enumerate(config.ocr.fallback):
        alias_ref(f"ocr.fallback.{index}", name)
    for quality in QUALITIES:
        preset = getattr(config.ocr.presets, quality) if config.ocr.presets else None
        if preset is not None:
            alias_ref(f"ocr.presets.{quality}", preset)
    for name in config.budgets.per_alias:
        alias_ref(f"budgets.per_alias.{name}", name)

    if not issues:  # capability checks only make sense once every name resolves
        issues.extend(_capabilities(config, positions))
        issues.extend(_unpriced(config, positions))
    return issues


def _unpriced(config: Config, positions: Positions) -> list[ConfigIssue]:
    """With budgets set, an alias with no known price would estimate to $0 and slip past every
    limit: refused unless the user accepts that with ``budgets.unpriced: allow``."""
    if not config.budgets.active or config.budgets.unpriced == "allow":
        return []
    issues = []
    for alias in config.models:
        info = describe(config, alias)
        if info.priced:
            continue
        how = (
            "price: {per_image: 0.04}"
            if info.mode == "image_generation"
            else "price: {input_per_mtok: 0.5, output_per_mtok: 1.5}"
        )
        issues.append(
            positions.issue(
                f"models.{alias}",
                f"alias {alias!r} ({info.litellm_model}) has no known price, so budgets cannot cap it: "
                f"add `{how}` (USD) to the alias, or set `budgets.unpriced: allow` to send it uncapped "
                "and record its calls as cost unknown",
            )
        )
    return issues


def _cycles(config: Config, positions: Positions) -> list[ConfigIssue]:
    issues = []
    reported: set[frozenset[str]] = set()

    def visit(alias: str, path: list[str]) -> None:
        for nxt in config.fallbacks.get(alias, []):
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    issues.append(
                        positions.issue(f"fallbacks.{path[0]}", f"fallback cycle: {' -> '.join(cycle)}")
                    )
            elif nxt in config.fallbacks:
                visit(nxt, [*path, nxt])

    for alias in config.fallbacks:
        visit(alias, [alias])
    return issues


def _capabilities(config: Config, positions: Positions) -> list[ConfigIssue]:
    issues = []
    for kind, presets in config.presets:
        if presets is None:
            continue
        mode, needs_vision = _PRESET_NEEDS[kind]
        for quality in QUALITIES:
            alias = getattr(presets, quality)
            if alias is None:
                continue
            for position, name in enumerate([alias, *fallback_chain(config, alias)]):
                info = describe(config, name)
                role = f"alias {name!r}" if position == 0 else f"fallback {name!r} (behind {alias!r})"
                where = f"presets.{kind}.{quality}" if position == 0 else f"fallbacks.{alias}"
                if info.mode != mode:  # behind the preset alias, the fallbacks check below speaks
                    if position == 0:
                        issues.append(
                            positions.issue(
                                where,
                                f"{role} has mode {info.mode} but {kind} presets need mode {mode}; set mode: on the alias if LiteLLM's table is wrong",
                            )
                        )
                elif needs_vision and not info.vision:
                    issues.append(
                        positions.issue(
                            where,
                            f"{role} does not accept images but stands in a vision preset; set vision: true on the alias if it does",
                        )
                    )
    for index, name in enumerate(config.ocr.fallback):
        info = describe(config, name)
        if not (info.vision or info.mode == "ocr"):
            issues.append(
                positions.issue(
                    f"ocr.fallback.{index}",
                    f"alias {name!r} cannot read images: OCR fallbacks need vision or mode: ocr",
                )
            )
    for alias, chain in config.fallbacks.items():
        primary = describe(config, alias)
        for name in chain:
            info = describe(config, name)
            if primary.mode != info.mode:
                issues.append(
                    positions.issue(
                        f"fallbacks.{alias}",
                        f"fallback {name!r} has mode {info.mode} but {alias!r} has mode {primary.mode}: it cannot stand in for it",
                    )
                )
    return issues
