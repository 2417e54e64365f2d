"""``llmcfg ocr`` over many images with a wrong ``--mode`` or ``--model``: one error line before
any image is read, not the same error once per image followed by a summary of failures (a newcomer
with 200 scans saw 200 identical lines)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guarded import ROOT, guarded_env

LLMCFG = Path(sys.executable).parent / "llmcfg"  # the console script pip installed


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--mode", "gundan"],
            "error: unknown OCR mode 'gundan' (did you mean 'gundam'?); modes: tiny, small, base, gundam",
        ),
        (["--model", "local-orc"], "error: unknown alias 'local-orc' (did you mean 'local-ocr'?)"),
    ],
)
def test_a_wrong_mode_or_alias_is_one_error_before_any_image(
    tmp_path: Path, option: list[str], message: str
) -> None:
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    for name in ("a.png", "b.png", "c.png"):
        shutil.copy(ROOT / "examples" / "invoice.png", tmp_path / name)
    done = subprocess.run(
        [str(LLMCFG), "ocr", "a.png", "b.png", "c.png", *option],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=guarded_env(tmp_path),
        timeout=180,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [message]
    assert done.stdout == ""
    assert not (tmp_path / "llm_costs.jsonl").exists()  # no model was called


def test_a_known_mode_still_reads_every_image(tmp_path: Path) -> None:
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    shutil.copy(ROOT / "examples" / "invoice.png", tmp_path / "a.png")
    done = subprocess.run(
        [str(LLMCFG), "ocr", "a.png", "--mode", "tiny", "--model", "local-ocr"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=guarded_env(tmp_path),
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "INVOICE" in done.stdout


def test_quality_picks_the_ocr_preset_as_for_chat_and_vision(tmp_path: Path) -> None:
    """``--quality fast`` is ``ocr.presets.fast`` (local-ocr in the shipped config); with ``--model``
    too it is a usage error, as for chat and vision."""
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    shutil.copy(ROOT / "examples" / "invoice.png", tmp_path / "a.png")
    done = subprocess.run(
        [str(LLMCFG), "ocr", "a.png", "--quality", "fast"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=guarded_env(tmp_path),
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "INVOICE" in done.stdout
    event = json.loads((tmp_path / "llm_costs.jsonl").read_text().splitlines()[-1])
    assert (event["requested"], event["alias"]) == ("ocr/fast", "local-ocr")
    both = subprocess.run(
        [str(LLMCFG), "ocr", "a.png", "--quality", "fast", "--model", "local-ocr"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=guarded_env(tmp_path),
        timeout=180,
    )
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
