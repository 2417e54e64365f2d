"""A key only ever goes to the provider it was declared for: a provider declared without ``api_key``
sends none of the environment's keys (LiteLLM would fill them in), over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.routing.compile import NO_KEY
from llmcfg.testing import FakeProvider

ENV_KEYS = {
    "OPENAI_API_KEY": "sk-env-openai-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-env-0123456789",
    "GEMINI_API_KEY": "AIza-env-gemini-0123456789",
    "OPENROUTER_API_KEY": "sk-or-env-0123456789",
}


@pytest.fixture
def env_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV_KEYS.items():
        monkeypatch.setenv(name, value)
    return ENV_KEYS


def _config(tmp_path: Path, fake: FakeProvider, kind: str, model: str, key: str = "") -> Path:
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        f"providers:\n  local: {{kind: {kind}, api_base: '{fake.base_url_for(kind)}'{key}}}\n"
        f"models:\n  m: {{model: local/{model}, price: {{input_per_mtok: 1, output_per_mtok: 1}}}}\n"
        "router: {num_retries: 0}\n"
    )
    return path


def _sent(request: Any) -> str:
    return " ".join([str(request.api_key), request.path, *request.headers.values()])


@pytest.mark.parametrize(
    ("kind", "model"),
    [("openai", "my-model"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash")],
)
def test_a_provider_without_api_key_sends_no_environment_key(
    env_keys: dict[str, str], fake: FakeProvider, tmp_path: Path, kind: str, model: str
) -> None:
    fake.reply("hello")
    llm = LLM(load_config(_config(tmp_path, fake, kind, model)))
    assert llm.chat("hi", model="m").text == "hello"
    sent = _sent(fake.requests[-1])
    for value in env_keys.values():
        assert value not in sent
    assert fake.requests[-1].api_key == NO_KEY


def test_an_empty_key_is_no_key(env_keys: dict[str, str], fake: FakeProvider, tmp_path: Path) -> None:
    fake.reply("hello")
    llm = LLM(load_config(_config(tmp_path, fake, "openai", "x", ", api_key: '${LOCAL_KEY:-}'")))
    llm.chat("hi", model="m")
    assert env_keys["OPENAI_API_KEY"] not in _sent(fake.requests[-1])


def test_a_declared_key_is_sent(env_keys: dict[str, str], fake: FakeProvider, tmp_path: Path) -> None:
    fake.reply("hello")
    llm = LLM(load_config(_config(tmp_path, fake, "openai", "x", ", api_key: '${OPENAI_API_KEY}'")))
    llm.chat("hi", model="m")
    assert fake.requests[-1].api_key == env_keys["OPENAI_API_KEY"]


def test_plan_shows_none_for_a_provider_without_key(env_keys: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        "providers:\n  local: {kind: openai, api_base: 'http://127.0.0.1:9/v1'}\n"
        "models:\n  m: {model: local/x, price: {input_per_mtok: 1, output_per_mtok: 1}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "llmcfg.cli.main", "plan", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if " m " in f" {line} ")
    assert "none" in row
    assert "sk-env" not in done.stdout
