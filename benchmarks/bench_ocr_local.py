"""The offline OCR engine per mode against Tesseract on the same pages: CER and pages per second.

Pages: rendered ones with their exact text (tests/ocr_pages.py), the shipped sample invoice, and a
real scan nobody here rendered: ``skimage.data.page()`` (a photographed book page, unevenly lit;
skipped with a message when scikit-image is not installed). Ground truth of the last two is in
benchmarks/data/.

Peer: Tesseract 5 (``apt-get install tesseract-ocr``), run as its command on the full-resolution
page (``tesseract page.png stdout``, default page segmentation): a benchmark peer only, never a
dependency of llmcfg or its tests; its column is empty when it is not installed. Its time includes
its process start, as pytesseract's would.

Two clocks: wall time (pages/s) and CPU seconds per page (all threads; Tesseract's from its
process's rusage). On a shared, loaded machine the CPU ratio is the steadier of the two.

Targets (issue 15): CER at least as good as Tesseract's on every page (llmcfg's best mode for the
page); on clean print no more than 1.5x Tesseract's time (``base``); ``gundam`` on large print no
more than 1.3x ``base``. The engine's one-time load is reported apart.

Run: python benchmarks/bench_ocr_local.py [repeats]
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(ROOT))

from tests import ocr_pages  # noqa: E402

import llmcfg  # noqa: E402
from llmcfg.ocr.engine import engine  # noqa: E402

CONFIG = "models:\n  local-ocr: {model: rapidocr/ppocr}\nocr: {presets: {fast: local-ocr}}\ncache: {enabled: false}\n"
MODES = ("tiny", "small", "base", "gundam")
Page = tuple[bytes, str]


def skimage_page() -> Page | None:
    try:
        from skimage.data import page
    except ImportError:
        print("skipping skimage.data.page(): scikit-image is not installed (pip install scikit-image)")
        return None
    from PIL import Image

    return ocr_pages.png(Image.fromarray(page())), (DATA / "skimage_page.txt").read_text()


def pages() -> dict[str, tuple[Page, bool]]:
    """name -> (page, clean print?)."""
    rendered: dict[str, Callable[[], Page]] = {
        "sans 28px": lambda: ocr_pages.page(
            ocr_pages.PARAGRAPH, font_name="DejaVuSans.ttf", size=28, width=1100
        ),
        "serif 22px": lambda: ocr_pages.page(
            ocr_pages.PARAGRAPH, font_name="DejaVuSerif.ttf", size=22, width=900
        ),
        "mono 18px": lambda: ocr_pages.page(
            ocr_pages.PARAGRAPH, font_name="DejaVuSansMono.ttf", size=18, width=800
        ),
        "large print 2000px": lambda: ocr_pages.page(
            ocr_pages.PARAGRAPH, font_name="DejaVuSans.ttf", size=44, width=2000
        ),
        "two columns": ocr_pages.two_columns,
        "receipt": ocr_pages.receipt,
        "table invoice": ocr_pages.table_invoice,
        "small print 3600px": ocr_pages.small_print,
    }
    found = {name: (make(), True) for name, make in rendered.items()}
    invoice = ((ROOT / "examples" / "invoice.png").read_bytes(), (DATA / "invoice.txt").read_text())
    found["examples/invoice.png"] = (invoice, True)
    scan = skimage_page()
    if scan is not None:
        found["skimage page (scan)"] = (scan, False)
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tesseract(image: bytes, repeats: int) -> tuple[str, float, float] | None:
    """Tesseract's text, median wall seconds and median CPU seconds per page."""
    if shutil.which("tesseract") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "page.png"
        path.write_bytes(image)
        walls, cpus, text = [], [], ""
        for _ in range(repeats):
            start, cpu = time.perf_counter(), _children_cpu()
            done = subprocess.run(
                ["tesseract", str(path), "stdout"], capture_output=True, text=True, check=True
            )
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu() - cpu)
            text = done.stdout
    return text, statistics.median(walls), statistics.median(cpus)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm_config.yaml"
        path.write_text(CONFIG)
        llm = llmcfg.LLM(llmcfg.load_config(path))
        start = time.perf_counter()
        llm.ocr(ocr_pages.receipt()[0], mode="tiny", quality="fast")
        print(f"engine load + first page: {time.perf_counter() - start:.2f} s\n")
        if shutil.which("tesseract") is None:
            print("Tesseract is not installed (apt-get install tesseract-ocr): its columns are empty\n")
        header = (
            f"{'page':>22} {'mode':>6} {'CER':>7} {'pages/s':>7} {'cpu s':>6} {'reads':>5} | "
            f"{'tess CER':>8} {'pages/s':>7} {'cpu s':>6} | {'wall/tess':>9} {'cpu/tess':>8}"
        )
        print(header)
        print("-" * len(header))
        verdicts = []
        for name, ((image, reference), clean) in pages().items():
            peer = tesseract(image, repeats)
            peer_cer = ocr_pages.cer(reference, peer[0]) if peer else None
            walls: dict[str, float] = {}
            cpus: dict[str, float] = {}
            rates: dict[str, float] = {}
            for mode in MODES:
                wall_times, cpu_times = [], []
                for _ in range(repeats):
                    reads = engine().reads
                    start, cpu = time.perf_counter(), time.process_time()
                    page = llm.ocr(image, mode=mode, quality="fast")
                    wall_times.append(time.perf_counter() - start)
                    cpu_times.append(time.process_time() - cpu)
                    reads = engine().reads - reads
                walls[mode], cpus[mode] = statistics.median(wall_times), statistics.median(cpu_times)
                rates[mode] = ocr_pages.cer(reference, page.text)
                row = f"{name:>22} {mode:>6} {rates[mode]:7.4f} {1 / walls[mode]:7.2f} {cpus[mode]:6.2f} {reads:5d} |"
                if peer is not None and peer_cer is not None:
                    row += f" {peer_cer:8.4f} {1 / peer[1]:7.2f} {peer[2]:6.2f} |"
                    row += f" {walls[mode] / peer[1]:8.2f}x {cpus[mode] / peer[2]:7.2f}x"
                print(row)
            best = min(MODES, key=lambda mode: (rates[mode], cpus[mode]))
            line = (
                f"{name}: best {best} (CER {rates[best]:.4f}); gundam/base "
                f"wall {walls['gundam'] / walls['base']:.2f}x cpu {cpus['gundam'] / cpus['base']:.2f}x"
            )
            if peer is not None and peer_cer is not None:
                verdict = "ok" if rates[best] <= peer_cer + 1e-9 else "WORSE"
                line += f"; CER vs Tesseract {verdict} ({rates[best]:.4f} vs {peer_cer:.4f})"
                if clean:
                    line += (
                        f"; base/Tesseract wall {walls['base'] / peer[1]:.2f}x"
                        f" cpu {cpus['base'] / peer[2]:.2f}x (target <= 1.5x)"
                    )
            verdicts.append(line)
            print()
        print("\n".join(verdicts))


if __name__ == "__main__":
    main()
