"""The examples in docs/ run, so they cannot rot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(doc: str) -> dict[str, str]:
    """Code blocks that start with a '# file.py' line, by file name."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.DOTALL)
    return {
        block.split("\n", 1)[0][2:].strip(): block
        for block in blocks
        if block.startswith("# ") and ".py" in block.split("\n", 1)[0]
    }


def test_fastapi_example_passes(pytester: pytest.Pytester) -> None:
    files = python_blocks("testing.md")
    assert set(files) == {"app.py", "test_app.py"}
    for name, code in files.items():
        pytester.makefile(".py", **{name[:-3]: code})
    shutil.copy(ROOT / "llm_config.yaml", pytester.path / "llm_config.yaml")
    pytester.makeconftest(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.netguard import install\ninstall()\n"
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_fixture_uses_the_shipped_config(llmcfg_llm, llmcfg_fake) -> None:  # type: ignore[no-untyped-def]
    import llmcfg

    llmcfg_fake.reply("plugged in")
    assert llmcfg.chat("hi", quality="fast").text == "plugged in"
    assert llmcfg_llm.config.source == "llm_config.yaml"
    assert llmcfg_fake.requests[-1].model == "gpt-4o-mini"
