"""The offline OCR engine (RapidOCR, PP-OCR models shipped in its wheel): lines of text with their
boxes, and their reading order (tables by rows, prose columns one after another, paragraphs).
Which parts of a gundam page are read at full resolution is ``ocr.tiling``'s job.

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
    "page_text",
]

EXTRA_HINT = "the offline OCR engine needs the extra: pip install 'llmcfg[ocr-local]'"
OCR_METADATA_KEY = "llmcfg_ocr"  # how llmcfg marks an OCR request for the engine (call metadata)
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

    def scaled(self, sx: float, sy: float) -> TextLine:
        return replace(self, x0=self.x0 * sx, x1=self.x1 * sx, y0=self.y0 * sy, y1=self.y1 * sy)


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
                # Detect at the image's own size: the default scales every image up until its short
                # side is 736 px (a 1100x300 page to 2650x736), which costs 2-3x and reads no better.
                "Det.limit_type": "max",
                "Det.limit_side_len": MAX_SIDE,
                # Recognise each line at its own width: the default pads every crop to 320 px, so a
                # table's short cells ("2", "45.00") cost as much as a full line.
                "Rec.rec_img_shape": [3, 48, 96],
                "Global.log_level": "error",  # an empty band is not news
            }
        )
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._lock = threading.Lock()
        self.reads = 0  # inferences run: what gundam's selective tiling saves is countable

    def read(self, image_bytes: bytes) -> list[TextLine]:
        from PIL import Image

        return self.read_picture(Image.open(io.BytesIO(image_bytes)))

    def read_picture(self, picture: Any) -> list[TextLine]:
        """The lines of a PIL image (no encoding round trip for crops of a page)."""
        import numpy as np

        pixels = np.array(picture.convert("RGB"))
        with self._lock:
            self.reads += 1
            output = self._ocr(pixels)
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
