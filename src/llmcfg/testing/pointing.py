"""Point a loaded config at a FakeProvider without editing its YAML."""

from __future__ import annotations

import atexit
import shutil
import tempfile

from llmcfg.config import envrefs
from llmcfg.config.schema import Config
from llmcfg.testing.fake_provider import FakeProvider

__all__ = ["isolated", "use_fake"]


def _with_default(reference: str) -> str:
    """``${VAR}`` → ``${VAR:-fake-VAR}``: keys stay distinct per variable, and need no environment."""
    names = envrefs.referenced_variables(reference)
    return "".join(f"${{{name}:-fake-{name}}}" for name in names) or reference


def isolated(config: Config, folder: str | None = None) -> Config:
    """A copy of ``config`` whose response cache, cost log and budget ledger live in ``folder``
    (default: a new temporary folder), so test calls never reach the real ones. A Redis budget store
    becomes a local one there: a test must not spend from the production ledger."""
    if folder is None:
        folder = tempfile.mkdtemp(prefix="llmcfg-test-")
        atexit.register(shutil.rmtree, folder, True)
    state = folder
    cost_log = f"{state}/llm_costs.jsonl" if config.logging.cost_log else None
    moved = config.model_copy(
        update={
            "cache": config.cache.model_copy(update={"dir": f"{state}/llmcfg-cache"}),
            "logging": config.logging.model_copy(update={"cost_log": cost_log}),
            "budgets": config.budgets.model_copy(update={"store": "local", "redis_url": None}),
        }
    )
    moved._source = config.source
    moved._on_reload = config._on_reload
    return moved.on_reload(lambda new: isolated(new, state))


def use_fake(
    config: Config, fake: FakeProvider | str, *, keep_keys: bool = False, isolate: bool = True
) -> Config:
    """A copy of ``config`` whose every provider talks to ``fake`` (a FakeProvider, or the base URL
    of one: its ``base_url``, ending in ``/v1``).

    Each provider kind gets the path LiteLLM builds on (Anthropic ``/v1/messages`` from the root,
    Gemini ``/v1beta/models/...``, OpenAI-compatible ``/v1/...``), so every alias really reaches
    the fake in its own wire format. Keys still come from the environment when set; unless
    ``keep_keys``, an unset one becomes ``fake-<VAR>`` so tests need no secrets (and a key pool
    keeps one distinct key per variable).
    Unless ``isolate=False``, the response cache, cost log and budget ledger move to a temporary
    folder (``isolated``): fake answers never land in the real cache, log or budget.
    """
    if isinstance(fake, str):
        root = fake.rstrip("/").removesuffix("/v1")
        bases = {"anthropic": root, "gemini": f"{root}/v1beta"}

        def base_for(kind: str) -> str:
            return bases.get(kind, f"{root}/v1")
    else:
        base_for = fake.base_url_for
    providers = {}
    for name, provider in config.providers.items():
        key = provider.api_key
        if not keep_keys and isinstance(key, list):
            key = [_with_default(k) for k in key]
        elif not keep_keys and isinstance(key, str):
            key = _with_default(key)
        elif not keep_keys and key is None:
            key = f"${{FAKE_KEY_{name.upper().replace('-', '_')}:-fake-key}}"
        kind = provider.kind or name
        # A copy, so every other setting of the provider (key_limits, ...) stays as written.
        providers[name] = provider.model_copy(
            update={"kind": kind, "api_key": key, "api_base": base_for(kind)}
        )
    pointed = config.model_copy(update={"providers": providers})
    pointed._source = config.source
    pointed._on_reload = config._on_reload
    pointed.on_reload(lambda new: use_fake(new, fake, keep_keys=keep_keys, isolate=False))
    return isolated(pointed) if isolate else pointed
