"""pytest plugin (auto-loaded once llmcfg is installed): fixtures for testing code that uses llmcfg.

- ``llmcfg_fake``: a running FakeProvider.
- ``llmcfg_llm``: an ``LLM`` on your config (``--llmcfg-config``, else $LLMCFG_CONFIG, else
  ./llm_config.yaml) with every provider pointed at the fake, caches, cost log and budget ledger
  in a temporary folder, images fetchable from the fake; it is also the default LLM, so module-level calls
  (``llmcfg.chat``, ``llmcfg.vision``) in your application use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcfg.testing.fake_provider import FakeProvider
from llmcfg.testing.pointing import isolated, use_fake

__all__ = ["llmcfg_fake", "llmcfg_llm"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--llmcfg-config", default=None, help="llm_config.yaml for the llmcfg_llm fixture")


@pytest.fixture
def llmcfg_fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def llmcfg_llm(llmcfg_fake: FakeProvider, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    from llmcfg.calls.client import LLM
    from llmcfg.config.load import DEFAULT_CONFIG_FILE, load_config
    from llmcfg.default import set_default

    path = request.config.getoption("llmcfg_config") or os.environ.get("LLMCFG_CONFIG") or DEFAULT_CONFIG_FILE
    config = isolated(use_fake(load_config(path), llmcfg_fake, isolate=False), str(tmp_path))
    isolated_config = config.model_copy(
        update={
            "fetch": config.fetch.model_copy(
                update={"allow_http": True, "allow_private_networks": ["127.0.0.1/32"]}
            ),
        }
    )
    llm = LLM(isolated_config)
    set_default(llm)
    try:
        yield llm
    finally:
        set_default(None)
