"""The offline OCR engine (RapidOCR, PP-OCR models shipped in its wheel): lines of text with their
boxes, tiles merged back into one page, and reading order (columns, rows, paragraphs).

Loaded once per process on first use. Needs the extra: ``pip install 'llmcfg[ocr-local]'``.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import statistics
import threading
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "EXTRA_HINT",
    "OCR_METADATA_KEY",
    "OcrEngine",
    "TextLine",
    "available",
    "engine",
    "merge_tiles",
    "page_text",
]

EXTRA_HINT = "the offline OCR engine needs the extra: pip install 'llmcfg[ocr-local]'"
OCR_METADATA_KEY = "llmcfg_ocr"  # how llmcfg marks an OCR request for the engine (call metadata)
_EDGE_PX = 3  # a box this close to an inner tile edge was cut by the tile
_PROSE_COLUMN = 0.25  # prose columns are each at least this share of their block's width
_PROSE_CHARS = 12  # ... and their lines have at least this many characters (median)
MAX_SIDE = 4096  # the engine reads images up to this side without shrinking them


@dataclass(frozen=True)
class TextLine:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def y_center(self) -> float:
        return (self.y0 + self.y1) / 2

    def shifted(self, dx: float, dy: float) -> TextLine:
        return replace(self, x0=self.x0 + dx, x1=self.x1 + dx, y0=self.y0 + dy, y1=self.y1 + dy)


def available() -> bool:
    return (
        importlib.util.find_spec("rapidocr") is not None
        and importlib.util.find_spec("onnxruntime") is not None
    )


class OcrEngine:
    """RapidOCR with its bundled models; ``read`` is thread-safe (one inference at a time)."""

    def __init__(self) -> None:
        if not available():
            raise ImportError(EXTRA_HINT)
        from rapidocr import RapidOCR

        self._ocr: Any = RapidOCR(
            params={
                "Global.use_cls": False,  # pages are upright; the angle classifier flips some lines
                "Global.max_side_len": MAX_SIDE,  # read bands of a full-resolution page as they are
                "Global.log_level": "error",  # an empty band is not news
            }
        )
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._lock = threading.Lock()

    def read(self, image_bytes: bytes) -> list[TextLine]:
        import numpy as np
        from PIL import Image

        picture = np.array(Image.open(io.BytesIO(image_bytes)).convert("RGB"))
        with self._lock:
            output = self._ocr(picture)
        if output.txts is None or output.boxes is None:
            return []
        lines = []
        for text, box, score in zip(output.txts, output.boxes, output.scores, strict=True):
            xs, ys = [float(p[0]) for p in box], [float(p[1]) for p in box]
            if text.strip():
                lines.append(TextLine(text.strip(), min(xs), min(ys), max(xs), max(ys), float(score)))
        return lines


_engine: OcrEngine | None = None
_engine_lock = threading.Lock()


def engine() -> OcrEngine:
    """The process's engine, loaded on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = OcrEngine()
    return _engine


def read_bands(page_png: bytes, band: int) -> tuple[list[TextLine], int, int]:
    """Read a full-resolution page in full-width bands of ``band`` px overlapping by a quarter, so
    a printed line is never cut sideways and is whole in at least one band; returns page lines."""
    from PIL import Image

    page = Image.open(io.BytesIO(page_png)).convert("RGB")
    width, height = page.size
    step = max(1, band - band // 4)
    tops = list(range(0, max(1, height - band), step))
    if not tops or tops[-1] + band < height:
        tops.append(max(0, height - band))
    read = []
    for top in sorted(set(tops)):
        box = (0, top, width, min(height, top + band))
        buffer = io.BytesIO()
        page.crop(box).save(buffer, format="PNG")
        read.append((box, engine().read(buffer.getvalue())))
    return merge_tiles(read, width, height), width, height


def assemble(tiles: list[tuple[tuple[int, int, int, int], bytes]], width: int, height: int) -> bytes:
    """The full-resolution page put back together from its tiles."""
    from PIL import Image

    page = Image.new("RGB", (width, height), "white")
    for (left, top, _right, _bottom), data in tiles:
        page.paste(Image.open(io.BytesIO(data)).convert("RGB"), (left, top))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def _overlap(a: TextLine, b: TextLine) -> float:
    """Intersection over the smaller box."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0)) or 1.0
    return width * height / smaller


def merge_tiles(
    tiles: list[tuple[tuple[int, int, int, int], list[TextLine]]], width: int, height: int
) -> list[TextLine]:
    """Lines of overlapping tiles (box: left, top, right, bottom in page pixels) as one page:
    lines cut by an inner tile edge give way to a whole copy from the neighbouring tile, and a line
    read twice in the overlap is kept once (the surer reading)."""
    whole: list[TextLine] = []
    cut: list[TextLine] = []
    for (left, top, right, bottom), lines in tiles:
        for line in lines:
            page_line = line.shifted(left, top)
            touches = (
                (left > 0 and page_line.x0 - left <= _EDGE_PX)
                or (right < width and right - page_line.x1 <= _EDGE_PX)
                or (top > 0 and page_line.y0 - top <= _EDGE_PX)
                or (bottom < height and bottom - page_line.y1 <= _EDGE_PX)
            )
            (cut if touches else whole).append(page_line)
    kept: list[TextLine] = []
    for line in sorted(whole, key=lambda item: (-item.score, -len(item.text))):
        if all(_overlap(line, other) < 0.5 for other in kept):
            kept.append(line)
    for line in sorted(cut, key=lambda item: -len(item.text)):
        if all(_overlap(line, other) < 0.3 for other in kept):
            kept.append(line)
    return kept


def _rows(lines: list[TextLine], line_height: float) -> list[list[TextLine]]:
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: item.y_center):
        if (
            rows
            and abs(line.y_center - statistics.fmean(item.y_center for item in rows[-1])) < 0.5 * line_height
        ):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda item: item.x0) for row in rows]


def _columns(lines: list[TextLine], gap: float) -> list[list[TextLine]]:
    """Lines grouped into columns at vertical gaps of at least ``gap`` that no line crosses."""
    groups: list[list[TextLine]] = []
    right_edge = 0.0
    for line in sorted(lines, key=lambda item: item.x0):
        if groups and line.x0 <= right_edge + gap:
            groups[-1].append(line)
            right_edge = max(right_edge, line.x1)
        else:
            groups.append([line])
            right_edge = line.x1
    return groups


def _blocks(rows: list[list[TextLine]], line_height: float, gap: float) -> list[list[list[TextLine]]]:
    """Consecutive rows with the same columns, as blocks. A row joins the block above it when it
    keeps the block's columns and the block keeps the row's (a heading across two columns starts a
    new block; so does a table row whose cell bridges the block's columns), and when no blank space
    of more than two lines separates them (a footer is not the end of the column above it)."""
    blocks: list[list[list[TextLine]]] = []
    block_lines: list[TextLine] = []
    for row in rows:
        if blocks:
            above = max(line.y1 for line in blocks[-1][-1])
            if min(line.y0 for line in row) - above <= 2 * line_height:
                count = max(len(_columns(block_lines, gap)), len(_columns(row, gap)))
                if len(_columns(block_lines + row, gap)) == count:
                    blocks[-1].append(row)
                    block_lines += row
                    continue
        blocks.append([row])
        block_lines = list(row)
    return blocks


def _is_prose(columns: list[list[TextLine]]) -> bool:
    """Columns of running text, read one after another; anything else with columns is a table,
    read row by row. Prose columns are each a fair share of the block's width and hold lines of
    words; a table has narrow columns of short cells (quantities, prices)."""
    left = min(line.x0 for column in columns for line in column)
    right = max(line.x1 for column in columns for line in column)
    for column in columns:
        width = max(line.x1 for line in column) - min(line.x0 for line in column)
        if width < _PROSE_COLUMN * (right - left):
            return False
        if statistics.median(len(line.text) for line in column) < _PROSE_CHARS:
            return False
    return True


def page_text(lines: list[TextLine], page_width: float, *, paragraphs: bool = False) -> str:
    """Lines in reading order: blocks top to bottom; in a block of prose columns, the columns left
    to right; in a table (or a single column), row by row. One output line per printed line (the
    cells of a table row on one line); a blank line between paragraphs when ``paragraphs``."""
    if not lines:
        return ""
    line_height = statistics.median(line.height for line in lines) or 1.0
    gap = max(line_height, 0.02 * page_width)
    sections: list[list[list[TextLine]]] = []  # prose columns apart; other blocks run on
    running = False
    for block in _blocks(_rows(lines, line_height), line_height, gap):
        columns = _columns([line for row in block for line in row], gap)
        if len(columns) > 1 and _is_prose(columns):
            sections += [_rows(column, line_height) for column in columns]
            running = False
        elif running:
            sections[-1] += block
        else:
            sections.append(list(block))
            running = True
    out: list[str] = []
    for section in sections:
        previous: list[TextLine] | None = None
        for row in section:
            if paragraphs and previous is not None:
                space = min(item.y0 for item in row) - max(item.y1 for item in previous)
                if space > 0.8 * line_height:
                    out.append("")
            out.append(" ".join(item.text for item in row))
            previous = row
        if paragraphs and out and out[-1] != "":
            out.append("")
    return "\n".join(out).strip()
