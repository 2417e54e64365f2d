"""Pages per second of the offline OCR engine for each mode, on this machine.

Two pages: the shipped sample invoice (1240×1754) and a 3600-px-wide page of small print. The
engine's one-time load is reported apart. Run: python benchmarks/bench_ocr_local.py [repeats]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import ocr_pages  # noqa: E402

import llmcfg  # noqa: E402

CONFIG = "models:\n  local-ocr: {model: rapidocr/ppocr}\nocr: {presets: {fast: local-ocr}}\ncache: {enabled: false}\n"


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm_config.yaml"
        path.write_text(CONFIG)
        llm = llmcfg.LLM(llmcfg.load_config(path))
        pages = {
            "invoice 1240x1754": (ROOT / "examples" / "invoice.png").read_bytes(),
            "small print 3600 wide": ocr_pages.small_print()[0],
        }
        start = time.perf_counter()
        llm.ocr(pages["invoice 1240x1754"], mode="tiny", quality="fast")
        print(f"engine load + first page: {time.perf_counter() - start:.2f} s")
        for name, image in pages.items():
            for mode in ("tiny", "small", "base", "gundam"):
                start = time.perf_counter()
                for _ in range(repeats):
                    page = llm.ocr(image, mode=mode, quality="fast")
                seconds = (time.perf_counter() - start) / repeats
                print(
                    f"{name:>22} {mode:>6}: {1 / seconds:6.2f} pages/s ({seconds:.2f} s/page, {page.tiles} tiles)"
                )


if __name__ == "__main__":
    main()
