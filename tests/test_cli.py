"""The CLI as a user runs it: exit codes, one clear line on errors, no litellm where none is needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmcfg.cli.main import main
from llmcfg.testing import FakeProvider
from tests.conftest import BASIC


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmcfg.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_validate_ok_and_warns_about_missing_keys(
    write_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(write_config(BASIC))]) == 0
    out, err = capsys.readouterr()
    assert "ok (5 aliases" in out
    assert "OPENAI_API_KEY not set; aliases mini, gpt4o will fail" in err


def test_validate_error_is_one_clear_line_and_exit_2(
    write_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(BASIC.replace("balanced: mini, best: gpt4o}", "balanced: mini, best: gpt4}", 1))
    assert main(["validate", str(path)]) == 2
    _out, err = capsys.readouterr()
    assert err.startswith(f"error: {path}:")
    assert "presets.text.best: unknown alias 'gpt4' (did you mean 'gpt4o'?)" in err
    assert "Traceback" not in err


def test_plan_shows_prices_keys_and_flags_unpriced(
    write_config: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plan-secret-value")
    assert main(["plan", "--json", str(write_config(BASIC))]) == 0
    rows = {row["alias"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["mini"]["input_per_mtok"] == pytest.approx(0.15)
    assert rows["mini"]["keys"] == "set"
    assert rows["llama-vision"]["keys"] == "missing: OPENROUTER_API_KEY"
    assert rows["llama-vision"]["price_source"] == "unknown"
    assert rows["house"]["price_source"] == "override"
    assert rows["gpt4o"]["fallbacks"] == ["llama-vision", "mini"]
    assert main(["plan", str(write_config(BASIC))]) == 0
    table = capsys.readouterr().out
    assert "no known price for: llama-vision" in table
    assert "sk-plan-secret-value" not in table


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"providers", "models", "presets", "fallbacks", "budgets", "ocr", "cache", "fetch"} <= set(
        schema["properties"]
    )


def test_commands_that_call_no_model_never_import_litellm(write_config: Any) -> None:
    path = write_config(BASIC)
    code = (
        "import sys\nfrom llmcfg.cli.main import main\n"
        f"for args in (['validate', {str(path)!r}], ['plan', {str(path)!r}], ['schema'], ['cache', 'stats', '--config', {str(path)!r}]):\n"
        "    assert main(args) == 0\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_chat_command_against_the_fake(write_config: Any, fake: FakeProvider, tmp_path: Path) -> None:
    fake.reply("Bonjour")
    text = BASIC.replace(
        'openai: {api_key: "${OPENAI_API_KEY}"}',
        f'openai: {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY:-k}}"}}',
    )
    done = run("chat", "Say hello in French", "--quality", "fast", "--config", str(write_config(text)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Bonjour"
    assert "mini" in done.stderr
    assert "(table)" in done.stderr


def test_chat_command_missing_key_exits_2(write_config: Any) -> None:
    done = run("chat", "hi", "--model", "mini", "--config", str(write_config(BASIC)))
    assert done.returncode == 2
    assert "OPENAI_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr


def _pointed(write_config: Any, fake: FakeProvider) -> Path:
    text = BASIC.replace(
        'openai: {api_key: "${OPENAI_API_KEY}"}',
        f'openai: {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY:-k}}"}}',
    )
    return write_config(text + "cache: {dir: cache}\n")


def test_ocr_command_many_images_out_dir_and_total(
    write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    from tests.images import png

    fake.reply("INVOICE 42", model="gpt-4o-mini", tokens_in=1000, tokens_out=100)
    images = []
    for index in range(3):
        path = tmp_path / f"page{index}.png"
        path.write_bytes(png(100 + index, 50))
        images.append(str(path))
    config = _pointed(write_config, fake)
    done = run(
        "ocr",
        *images,
        "--model",
        "mini",
        "--mode",
        "base",
        "--out",
        str(tmp_path / "out"),
        "--jobs",
        "2",
        "--config",
        str(config),
    )
    assert done.returncode == 0, done.stderr
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] == ["page0.txt", "page1.txt", "page2.txt"]
    assert all(p.read_text() == "INVOICE 42\n" for p in outputs)
    assert "[3/3 images · total $0.000630]" in done.stderr  # 3 × (1000 × 0.15 + 100 × 0.6) / 1M


def test_vision_and_cache_commands(write_config: Any, fake: FakeProvider, tmp_path: Path) -> None:
    from tests.images import png

    fake.reply("a red rectangle")
    image = tmp_path / "x.png"
    image.write_bytes(png())
    config = str(_pointed(write_config, fake))
    first = run("vision", str(image), "What is it?", "--model", "gpt4o", "--config", config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "a red rectangle"
    assert "image ≈ 85 tokens" in first.stderr
    second = run("vision", str(image), "What is it?", "--model", "gpt4o", "--config", config)
    assert "cached" in second.stderr
    assert len(fake.requests) == 1
    stats = run("cache", "stats", "--config", config)
    assert "responses entries=1" in stats.stdout
    assert "hits=1" in stats.stdout
    cleared = run("cache", "clear", "--config", config)
    assert "removed 1 entries" in cleared.stdout
