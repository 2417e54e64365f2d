"""The offline OCR engine as an ordinary Router deployment: real reading of rendered pages (CER per
case), gundam's tiles against base on small print, the fallback from a failing vision model, and its
refusal of general questions. Skipped only when the ocr-local extra is absent (.ci/run installs it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, CapabilityError, load_config
from llmcfg.ocr.engine import available, engine
from llmcfg.testing import FakeProvider, use_fake
from tests import ocr_pages

pytestmark = pytest.mark.skipif(
    not available(), reason="the ocr-local extra is not installed: pip install 'llmcfg[ocr-local]'"
)

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
models:
  gpt4o: {model: openai/gpt-4o}
  local-ocr: {model: rapidocr/ppocr}
presets:
  vision: {fast: gpt4o, balanced: gpt4o, best: gpt4o}
ocr:
  presets: {fast: local-ocr}
  fallback: [local-ocr]
router: {num_retries: 0, timeout_s: 5}
logging: {cost_log: costs.jsonl}
cache: {dir: cache}
"""

CER_REPORT: dict[str, float] = {}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> LLM:
    path = tmp_path_factory.mktemp("ocr") / "llm_config.yaml"
    path.write_text(CONFIG)
    return LLM(load_config(path))


CASES: dict[str, tuple[Callable[[], tuple[bytes, str]], float]] = {
    "sans 28px": (
        lambda: ocr_pages.page(ocr_pages.PARAGRAPH, font_name="DejaVuSans.ttf", size=28, width=1100),
        0.02,
    ),
    "serif 22px": (
        lambda: ocr_pages.page(ocr_pages.PARAGRAPH, font_name="DejaVuSerif.ttf", size=22, width=900),
        0.03,
    ),
    "mono 18px": (
        lambda: ocr_pages.page(ocr_pages.PARAGRAPH, font_name="DejaVuSansMono.ttf", size=18, width=800),
        0.04,
    ),
    "bold 34px": (
        lambda: ocr_pages.page(ocr_pages.PARAGRAPH[:3], font_name="DejaVuSans-Bold.ttf", size=34, width=1200),
        0.02,
    ),
    "two columns": (ocr_pages.two_columns, 0.05),
    "receipt": (ocr_pages.receipt, 0.05),
    "table invoice": (ocr_pages.table_invoice, 0.02),
}


@pytest.mark.parametrize("case", CASES)
def test_rendered_pages_are_read_within_the_bound(local: LLM, case: str) -> None:
    make, bound = CASES[case]
    image, reference = make()
    page = local.ocr(image, mode="base", quality="fast", cache=False)
    rate = ocr_pages.cer(reference, page.text)
    CER_REPORT[case] = rate
    print(f"CER {case}: {rate:.4f}")
    assert rate <= bound, f"{case}: CER {rate:.3f} > {bound}\n{page.text}"
    assert (page.alias, page.cost_usd, page.cost_source) == ("local-ocr", 0.0, "table")


def test_the_shipped_invoice_reads_exactly(local: LLM) -> None:
    """The README's first command reads examples/invoice.png (mode base): every line, table rows
    left to right, the footer last."""
    root = Path(__file__).resolve().parent.parent
    expected = root.joinpath("benchmarks", "data", "invoice.txt").read_text().strip()
    page = local.ocr(root.joinpath("examples", "invoice.png").read_bytes(), mode="base", quality="fast")
    assert page.text == expected


def test_line_breaks_are_kept(local: LLM) -> None:
    image, reference = ocr_pages.page(ocr_pages.PARAGRAPH, font_name="DejaVuSans.ttf", size=28, width=1100)
    assert local.ocr(image, mode="small", quality="fast", cache=False).text.count("\n") == reference.count(
        "\n"
    )


def test_gundam_reads_small_print_that_base_loses(local: LLM) -> None:
    image, reference = ocr_pages.small_print(repeat=1)  # 6 lines: one band at full resolution
    base = ocr_pages.cer(reference, local.ocr(image, mode="base", quality="fast", cache=False).text)
    gundam_page = local.ocr(image, mode="gundam", quality="fast", cache=False)
    gundam = ocr_pages.cer(reference, gundam_page.text)
    CER_REPORT["small print, base"] = base
    CER_REPORT["small print, gundam"] = gundam
    print(f"CER small print: base {base:.4f}, gundam {gundam:.4f} over {gundam_page.tiles} tiles")
    assert gundam_page.tiles > 1
    assert gundam <= 0.05
    assert base > gundam + 0.05


def test_gundam_reads_large_print_from_its_overview_alone(local: LLM) -> None:
    """Tiles are for text too small for the overview; large print costs one read, like base."""
    image, reference = ocr_pages.page(
        ocr_pages.PARAGRAPH[:3], font_name="DejaVuSans.ttf", size=44, width=2000
    )
    reads = engine().reads
    page = local.ocr(image, mode="gundam", quality="fast", cache=False)
    assert page.tiles > 1
    assert engine().reads - reads == 1
    assert ocr_pages.cer(reference, page.text) <= 0.02


async def test_async_ocr_runs_off_the_event_loop(local: LLM) -> None:
    image, reference = ocr_pages.receipt()
    page = await local.aocr(image, mode="base", quality="fast", cache=False)
    assert ocr_pages.cer(reference, page.text) <= 0.05


def test_a_failing_vision_model_falls_back_to_the_local_engine(
    tmp_path: Path, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG)
    llm = LLM(use_fake(load_config(path), fake))
    fake.fail(500, model="gpt-4o", times=None)
    image, reference = ocr_pages.receipt()
    page = llm.ocr(image, mode="base")  # ocr.quality balanced -> gpt4o on the fake
    assert (page.alias, page.fallbacks_tried) == ("local-ocr", ("gpt4o",))
    assert ocr_pages.cer(reference, page.text) <= 0.05
    [event] = [e for e in events if e["event"] == "llm.call"]
    assert (event["alias"], event["fallbacks_tried"], event["cost_source"]) == (
        "local-ocr",
        ["gpt4o"],
        "table",
    )


def test_no_key_degrades_ocr_to_the_local_engine(local: LLM, events: list[dict[str, Any]]) -> None:
    image, _ = ocr_pages.receipt()
    page = local.ocr(image, mode="base", cache=False)  # gpt4o has no OPENAI_API_KEY here
    assert (page.alias, page.fallbacks_tried) == ("local-ocr", ("gpt4o",))
    assert [e["fallbacks_tried"] for e in events if e["event"] == "llm.call"] == [["gpt4o"]]


def test_exhausted_budget_degrades_ocr_to_the_local_engine(tmp_path: Path, fake: FakeProvider) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG + "budgets: {daily_usd: 0.0}\n")
    llm = LLM(use_fake(load_config(path), fake))
    page = llm.ocr(ocr_pages.receipt()[0], mode="base")
    assert (page.alias, page.downgraded_from) == ("local-ocr", "gpt4o")
    assert fake.requests == []


def test_the_engine_refuses_general_vision_questions(local: LLM) -> None:
    image, _ = ocr_pages.receipt()
    with pytest.raises(CapabilityError, match="has mode ocr"):
        local.vision(image, "Is this a receipt?", model="local-ocr")
    import litellm  # the engine's own guard, reached through LiteLLM's Router without llmcfg's marks

    with pytest.raises(litellm.exceptions.BadRequestError, match="only reads the text of images"):
        local._runtime.router.completion(
            model="local-ocr", messages=[{"role": "user", "content": "Is this a receipt?"}]
        )


def test_missing_extra_names_it(tmp_path: Path) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG)
    code = (
        "import sys\nsys.modules['rapidocr'] = None\nimport llmcfg\n"
        f"llm = llmcfg.LLM.from_yaml({str(path)!r})\n"
        "try:\n    llm.ocr(b'x', model='local-ocr')\nexcept llmcfg.MissingDependencyError as e:\n    print(e)\n"
        "from llmcfg.cli.main import main\nmain(['plan', '--json', " + repr(str(path)) + "])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (
        "alias 'local-ocr': the offline OCR engine needs the extra: pip install 'llmcfg[ocr-local]'"
        in done.stdout
    )
    assert "offline: pip install 'llmcfg[ocr-local]'" in done.stdout


def test_validation_keeps_the_engine_out_of_vision_presets(tmp_path: Path) -> None:
    path = tmp_path / "llm_config.yaml"
    path.write_text(CONFIG.replace("vision: {fast: gpt4o,", "vision: {fast: local-ocr,"))
    with pytest.raises(Exception, match="has mode ocr but vision presets need mode chat"):
        load_config(path)
    path.write_text(CONFIG + "fallbacks:\n  gpt4o: [local-ocr]\n")
    with pytest.raises(Exception, match="'local-ocr' has mode ocr but 'gpt4o' has mode chat"):
        load_config(path)


def test_markdown_modes_get_paragraphs(local: LLM) -> None:
    from PIL import Image, ImageDraw

    face = ocr_pages.font("DejaVuSans.ttf", 26)
    image = Image.new("RGB", (1100, 560), "white")
    draw = ImageDraw.Draw(image)
    for y, line in (
        (40, "First paragraph, first line."),
        (84, "First paragraph, second line."),
        (300, "Second paragraph after a gap."),
    ):
        draw.text((40, y), line, font=face, fill="black")
    page = local.ocr(ocr_pages.png(image), mode="gundam", quality="fast", cache=False)
    assert (
        page.text
        == "First paragraph, first line.\nFirst paragraph, second line.\n\nSecond paragraph after a gap."
    )
    plain = local.ocr(ocr_pages.png(image), mode="base", quality="fast", cache=False)
    assert (
        plain.text
        == "First paragraph, first line.\nFirst paragraph, second line.\nSecond paragraph after a gap."
    )
