"""``llmcfg.ocr(...)`` is the documented function on every call, not only the first: the first OCR
call imports the ``llmcfg.ocr`` subpackage, and the import system used to put that module in the
function's place on the package (the second call raised "'module' object is not callable")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.guarded import ROOT, guarded_env

SCRIPT = """
import llmcfg
first = llmcfg.ocr("invoice.png", model="local-ocr").text
second = llmcfg.ocr("invoice.png", model="local-ocr", cache=False).text
from llmcfg import ocr
from llmcfg.ocr.modes import DEFAULT_MODES  # the subpackage is still there by name
import llmcfg.default
assert ocr is llmcfg.ocr is llmcfg.default.ocr, (ocr, llmcfg.ocr)
assert sys.modules["llmcfg.ocr"].__name__ == "llmcfg.ocr" and "gundam" in DEFAULT_MODES
print(first == second, "INVOICE" in first)
"""


def test_module_level_ocr_stays_the_function_after_the_first_call(tmp_path: Path) -> None:
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    shutil.copy(ROOT / "examples" / "invoice.png", tmp_path / "invoice.png")
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**guarded_env(tmp_path), "LLMCFG_CONFIG": str(tmp_path / "llm_config.yaml")},
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True True\n"
