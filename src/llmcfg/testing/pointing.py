"""Point a loaded config at a FakeProvider without editing its YAML."""

from __future__ import annotations

from llmcfg.config import envrefs
from llmcfg.config.schema import Config, ProviderConfig
from llmcfg.testing.fake_provider import FakeProvider

__all__ = ["use_fake"]


def _with_default(reference: str) -> str:
    """``${VAR}`` → ``${VAR:-fake-VAR}``: keys stay distinct per variable, and need no environment."""
    names = envrefs.referenced_variables(reference)
    return "".join(f"${{{name}:-fake-{name}}}" for name in names) or reference


def use_fake(config: Config, fake: FakeProvider | str, *, keep_keys: bool = False) -> Config:
    """A copy of ``config`` whose every provider talks to ``fake`` (a FakeProvider, or the base URL
    of one: its ``base_url``, ending in ``/v1``).

    Each provider kind gets the path LiteLLM builds on (Anthropic ``/v1/messages`` from the root,
    Gemini ``/v1beta/models/...``, OpenAI-compatible ``/v1/...``), so every alias really reaches
    the fake in its own wire format. Keys still come from the environment when set; unless
    ``keep_keys``, an unset one becomes ``fake-<VAR>`` so tests need no secrets (and a key pool
    keeps one distinct key per variable).
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
        providers[name] = ProviderConfig(
            kind=kind, api_key=key, api_base=base_for(kind), params=provider.params
        )
    pointed = config.model_copy(update={"providers": providers})
    pointed._source = config.source
    return pointed
