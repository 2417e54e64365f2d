"""gundam on the offline engine: the overview is read first, and only the parts of the page whose
text is too small there (or that it did not read at all) are read again at full resolution. A page
of large print costs about what ``base`` does; small print still gets every pixel.

The full-resolution parts are put back together from the tiles and read in bands of the tile's
height, as wide as the part: a line cut at a tile's side cannot be rejoined reliably.
"""

from __future__ import annotations

import io
from typing import Any

from llmcfg.ocr.engine import TextLine, engine

__all__ = ["LEGIBLE_PX", "merge_tiles", "read_page", "unread_regions"]

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels

LEGIBLE_PX = 15  # a line box at least this tall in the overview is read well there (boxes are
# about 6 px taller than the print: 4 px print, lost at this scale, makes 10-12 px boxes)...
SURE = 0.93  # ... when the engine is this sure of it (misread small print scores 0.84-0.92)
_INK = 60  # a pixel this far from the page's background grey is ink
_PAD = 4  # overview px around a read line's box that still belong to it
_SPECK = 8  # fewer ink pixels than this in a strip is dust, not text
_EDGE_PX = 3  # a box this close to an inner band edge was cut by the band


def read_page(overview: bytes, tiles: list[tuple[Box, bytes]], width: int, height: int) -> list[TextLine]:
    """The page's lines (page pixels): the overview's legible lines, plus the lines of the parts it
    could not read, read at full resolution from ``tiles``."""
    from PIL import Image

    small = Image.open(io.BytesIO(overview))
    small.load()
    lines = engine().read_picture(small)
    sx, sy = width / small.width, height / small.height
    if not tiles or max(sx, sy) < 1.05:  # the overview is the page: nothing more to see
        return [line.scaled(sx, sy) for line in lines]
    legible = [line for line in lines if line.height >= LEGIBLE_PX and line.score >= SURE]
    kept = [line.scaled(sx, sy) for line in legible]
    regions = unread_regions(small, legible, width, height)
    if not regions:
        return kept
    page = _assemble(tiles, width, height, regions)
    band = max(bottom - top for (_left, top, _right, bottom), _data in tiles)
    found = [line for region in regions for line in _read_bands(page, region, band)]
    return kept + [line for line in found if all(_overlap(line, other) < 0.3 for other in kept)]


def unread_regions(small: Any, legible: list[TextLine], width: int, height: int) -> list[Box]:
    """Page boxes around the ink of the overview ``small`` that no legible line covers: strips of
    rows with ink, merged across gaps smaller than a legible line (a paragraph of small print is one
    region), as wide as their ink, with a legible line's height of margin."""
    import numpy as np

    grey = np.asarray(small.convert("L"), dtype=np.int16)
    ink = np.abs(grey - int(np.median(grey))) > _INK
    for line in legible:
        top, left = max(0, int(line.y0) - _PAD), max(0, int(line.x0) - _PAD)
        ink[top : int(line.y1) + _PAD + 1, left : int(line.x1) + _PAD + 1] = False
    inked = np.flatnonzero(ink.sum(axis=1))
    if inked.size == 0:
        return []
    strips: list[tuple[int, int]] = []
    start = previous = int(inked[0])
    for y in (int(value) for value in inked[1:]):
        if y - previous > LEGIBLE_PX:
            strips.append((start, previous))
            start = y
        previous = y
    strips.append((start, previous))
    sx, sy = width / small.width, height / small.height
    regions: list[Box] = []
    for top, bottom in strips:
        part = ink[top : bottom + 1]
        if int(part.sum()) < _SPECK:
            continue
        columns = np.flatnonzero(part.any(axis=0))
        left, right = int(columns[0]) - LEGIBLE_PX, int(columns[-1]) + 1 + LEGIBLE_PX
        regions.append(
            (
                max(0, int(left * sx)),
                max(0, int((top - LEGIBLE_PX) * sy)),
                min(width, int(right * sx) + 1),
                min(height, int((bottom + 1 + LEGIBLE_PX) * sy) + 1),
            )
        )
    return _merged(regions)


def _merged(regions: list[Box]) -> list[Box]:
    """Overlapping regions as one box each (each part of the page is read once)."""
    boxes = list(regions)
    index = 0
    while index < len(boxes):
        a = boxes[index]
        for other in range(index + 1, len(boxes)):
            b = boxes[other]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                boxes[index] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                del boxes[other]
                break
        else:
            index += 1
    return boxes


def _assemble(tiles: list[tuple[Box, bytes]], width: int, height: int, regions: list[Box]) -> Any:
    """The full-resolution page from the tiles that meet a region (the rest stays blank)."""
    from PIL import Image

    page = Image.new("RGB", (width, height), "white")
    for (left, top, right, bottom), data in tiles:
        if any(left < r[2] and r[0] < right and top < r[3] and r[1] < bottom for r in regions):
            page.paste(Image.open(io.BytesIO(data)).convert("RGB"), (left, top))
    return page


def _read_bands(page: Any, region: Box, band: int) -> list[TextLine]:
    """A region read in bands of ``band`` px as wide as the region, overlapping by a quarter, so a
    printed line is never cut sideways and is whole in at least one band; page-pixel lines."""
    left, top, right, bottom = region
    step = max(1, band - band // 4)
    tops = list(range(top, max(top + 1, bottom - band), step))
    if tops[-1] + band < bottom:
        tops.append(max(top, bottom - band))
    read = []
    for y in sorted(set(tops)):
        box = (left, y, right, min(bottom, y + band))
        read.append((box, engine().read_picture(page.crop(box))))
    return merge_tiles(read, region)


def _overlap(a: TextLine, b: TextLine) -> float:
    """Intersection over the smaller box."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0)) or 1.0
    return width * height / smaller


def merge_tiles(tiles: list[tuple[Box, list[TextLine]]], bounds: Box) -> list[TextLine]:
    """Lines of overlapping tiles (each with its box) inside ``bounds``, as one set of page lines:
    lines cut by an inner tile edge give way to a whole copy from the neighbouring tile, and a line
    read twice in the overlap is kept once (the surer reading)."""
    whole: list[TextLine] = []
    cut: list[TextLine] = []
    outer_left, outer_top, outer_right, outer_bottom = bounds
    for (left, top, right, bottom), lines in tiles:
        for line in lines:
            page_line = line.shifted(left, top)
            touches = (
                (left > outer_left and page_line.x0 - left <= _EDGE_PX)
                or (right < outer_right and right - page_line.x1 <= _EDGE_PX)
                or (top > outer_top and page_line.y0 - top <= _EDGE_PX)
                or (bottom < outer_bottom and bottom - page_line.y1 <= _EDGE_PX)
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
