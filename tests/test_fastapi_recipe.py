"""docs/fastapi.md run for real (lifespan, dependency, streaming response), and the promise both web
recipes rest on: relative paths in the YAML resolve against the YAML file's folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake
from tests.guarded import ROOT
from tests.test_docs import python_blocks


def test_the_documented_recipe_runs(pytester: pytest.Pytester) -> None:
    files = python_blocks("fastapi.md")
    assert set(files) == {"app.py", "test_app.py"}
    for name, code in files.items():
        pytester.makefile(".py", **{name[:-3]: code})
    shutil.copy(ROOT / "llm_config.yaml", pytester.path / "llm_config.yaml")
    pytester.makeconftest(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.netguard import install\ninstall()\n"
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_relative_paths_resolve_against_the_yaml_folder(
    tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "llm_config.yaml").write_text(
        "providers:\n  openai: {api_key: '${OPENAI_API_KEY}'}\n"
        "models:\n  mini: {model: openai/gpt-4o-mini}\n"
        "presets:\n  text: {fast: mini}\n"
        "logging: {cost_log: logs/costs.jsonl}\n"
        "cache: {dir: state/cache, text: true}\n"
    )
    server_cwd = tmp_path / "somewhere-else"
    server_cwd.mkdir()
    monkeypatch.chdir(server_cwd)  # a server started from another folder
    # isolate=False: keep the cost log and cache where the YAML says (use_fake moves them otherwise)
    llm = LLM(use_fake(load_config(Path("..") / "project" / "llm_config.yaml"), fake, isolate=False))
    fake.reply("hello")
    assert llm.chat("hi", quality="fast").text == "hello"
    assert llm.chat("hi", quality="fast").cached  # the response cache is where the YAML says
    assert (project / "logs" / "costs.jsonl").read_text().count("llm.call") == 2
    assert (project / "state" / "cache").is_dir()
    assert list(server_cwd.iterdir()) == []  # nothing written relative to the working directory
