"""A key pool from one variable: ``api_key: "${OPENAI_KEYS}"`` holding ``k1,k2,k3`` is three keys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmcfg import LLM, load_config, parse_config
from llmcfg.routing.compile import compile_router
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_KEYS}"}
  mixed: {kind: openai, api_key: ["${FIRST_KEYS}", "${LAST_KEY}"]}
models:
  mini: {model: openai/gpt-4o-mini}
  other: {model: mixed/gpt-4o-mini}
router: {num_retries: 0, cooldown_s: 0}
"""


def test_one_variable_holding_commas_is_one_deployment_per_key() -> None:
    config = parse_config(textwrap.dedent(CONFIG), "cfg.yaml")
    environ = {"OPENAI_KEYS": "key-a, key-b,,key-c ", "FIRST_KEYS": "f1,f2", "LAST_KEY": "l1"}
    deployments = compile_router(config, environ).arguments["model_list"]
    keys = {
        alias: [d["litellm_params"]["api_key"] for d in deployments if d["model_name"] == alias]
        for alias in ("mini", "other")
    }
    assert keys == {"mini": ["key-a", "key-b", "key-c"], "other": ["f1", "f2", "l1"]}
    assert len({d["model_info"]["id"] for d in deployments}) == 6


def test_a_single_key_stays_one_deployment() -> None:
    config = parse_config(textwrap.dedent(CONFIG), "cfg.yaml")
    deployments = compile_router(config, {"OPENAI_KEYS": "only-one"}).arguments["model_list"]
    assert [d["litellm_params"]["api_key"] for d in deployments if d["model_name"] == "mini"] == ["only-one"]


def test_every_key_of_the_pool_reaches_the_provider(
    tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_KEYS", "key-a,key-b,key-c")
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    llm = LLM(use_fake(load_config(path), fake))
    for _ in range(40):  # simple shuffle: missing one key in 40 calls has odds of ~3 * (2/3)**40
        llm.chat("hi", model="mini")
    assert {r.api_key for r in fake.requests} == {"key-a", "key-b", "key-c"}
