"""``llmcfg schema | head``: a reader that goes away before the output ends is normal in a shell,
not an error. The command stops quietly with exit code 1 (what rich's tables exit with then, and
Python's own recipe for SIGPIPE), and never prints a ``BrokenPipeError`` traceback or Python's
"Exception ignored" line at exit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guarded import ROOT, guarded_env

LLMCFG = Path(sys.executable).parent / "llmcfg"  # the console script pip installed


@pytest.mark.parametrize(
    "command",
    [
        ["schema"],  # larger than stdout's buffer: the write fails inside the command
        ["plan", "--json"],  # smaller: the write fails when stdout is flushed at exit
        ["plan"],  # a rich table
        ["validate"],
    ],
)
def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path, command: list[str]) -> None:
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    child = subprocess.Popen(
        [str(LLMCFG), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**guarded_env(tmp_path), "OPENAI_API_KEY": "k", "OPENROUTER_API_KEY": "k"},
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # the reader is gone before the first byte: every write meets a closed pipe
    errors = child.stderr.read().decode()
    assert child.wait(timeout=120) == 1, errors
    assert errors == ""


def test_a_reader_that_stays_gets_everything(tmp_path: Path) -> None:
    """The same command into a pipe that is read to the end: all of it, exit 0."""
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    done = subprocess.run(
        [str(LLMCFG), "schema"], capture_output=True, text=True, cwd=tmp_path, env=guarded_env(tmp_path)
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.rstrip().endswith("}")
