"""docs/config.md's "switch providers" walk-through, run: the same app.py answers through OpenAI,
Claude, Gemini and a local server as the YAML says, with the shipped budgets, and no fallback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmcfg import LLM, load_config
from llmcfg.default import set_default
from llmcfg.testing import FakeProvider, use_fake

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "config.md").read_text()
SECTION = DOC.split("## Switch providers", 1)[1]


def switches() -> dict[str, dict[str, Any]]:
    blocks = re.findall(r"```yaml\n# switch to: (\w+)\n(.*?)```", SECTION, re.DOTALL)
    return {name: yaml.safe_load(body) for name, body in blocks}


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def app_answer() -> Any:
    (code,) = re.findall(r"```python\n# app.py\n(.*?)```", SECTION, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/config.md", "exec"), namespace)
    return namespace["answer"]


def test_the_walk_through_shows_all_three_switches() -> None:
    assert list(switches()) == ["claude", "gemini", "local"]


@pytest.mark.parametrize(
    ("switch", "wire", "model"),
    [
        (None, "openai", "gpt-4o"),
        ("claude", "anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini", "gemini-2.5-flash"),
        ("local", "openai", "llama-3.1-8b-instruct"),
    ],
)
def test_the_same_app_answers_through_each_provider(
    switch: str | None, wire: str, model: str, fake: FakeProvider, tmp_path: Path
) -> None:
    shipped = yaml.safe_load((ROOT / "llm_config.yaml").read_text())
    config_data = merged(shipped, switches()[switch]) if switch else shipped
    # The shipped budget stays whole: the Claude swap is admitted because the estimate reads the
    # alias's params.max_tokens, not the model's 64k maximum output.
    assert config_data["budgets"]["per_request_usd"]
    path = tmp_path / "llm_config.yaml"
    path.write_text(yaml.safe_dump(config_data))
    llm = LLM(use_fake(load_config(path), fake))
    set_default(llm)
    try:
        fake.reply("Paris.")
        assert app_answer()("Capital of France?") == "Paris."
    finally:
        set_default(None)
    sent = fake.requests[-1]
    assert (sent.provider, sent.model) == (wire, model)
    assert len(fake.requests) == 1  # no retry, no fallback: the switch took
    if switch in ("claude", "gemini"):
        body = sent.body if wire == "anthropic" else sent.body["generationConfig"]
        assert body.get("max_tokens", body.get("maxOutputTokens", body.get("max_output_tokens"))) == 1024
