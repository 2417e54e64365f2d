"""Reading order of the offline OCR engine's lines (``page_text``), on line boxes laid out like a
page: a table is read row by row with its footer last, prose columns one after another. Pure
geometry: no engine, so these run without the ocr-local extra."""

from __future__ import annotations

from llmcfg.ocr.engine import TextLine, page_text

CHAR = 11.0  # px per character of the made-up 20 px font
HEIGHT = 26.0


def at(text: str, x: float, y: float) -> TextLine:
    return TextLine(text, x, y, x + CHAR * len(text), y + HEIGHT, 0.99)


def test_a_table_is_read_row_by_row_and_its_footer_stays_last() -> None:
    rows = [
        ("Description", "Qty", "Unit price", "Amount"),
        ("Oak desk, 160 cm", "2", "340.00", "680.00"),
        ("Office chair", "4", "129.50", "518.00"),
        ("", "", "Total", "1,198.00"),
    ]
    lines = [at("INVOICE 2026-118", 50, 30), at("Harbour Supplies Ltd, 4 Dock Road, Leith", 50, 80)]
    for index, row in enumerate(rows):
        lines += [
            at(cell, x, 200 + 40 * index) for x, cell in zip((50, 470, 620, 820), row, strict=True) if cell
        ]
    lines += [at("Payment within 30 days to our account.", 50, 460), at("Thank you.", 50, 492)]
    assert page_text(lines, 1000) == "\n".join(
        [
            "INVOICE 2026-118",
            "Harbour Supplies Ltd, 4 Dock Road, Leith",
            "Description Qty Unit price Amount",
            "Oak desk, 160 cm 2 340.00 680.00",
            "Office chair 4 129.50 518.00",
            "Total 1,198.00",
            "Payment within 30 days to our account.",
            "Thank you.",
        ]
    )


def test_prose_columns_are_read_one_after_another_between_a_title_and_a_footer() -> None:
    left = ["Left column first line", "continues with more words", "and ends on this line."]
    right = ["Right column starts here", "with its own sentences", "that finish the page."]
    lines = [at("A Two Column Newsletter Title Spanning The Page", 40, 30)]
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        lines += [at(a, 40, 120 + 44 * index), at(b, 640, 120 + 44 * index)]
    lines.append(at("Page 1", 40, 400))  # narrow, under the left column, after blank space
    title = "A Two Column Newsletter Title Spanning The Page"
    assert page_text(lines, 1200) == "\n".join([title, *left, *right, "Page 1"])
    assert page_text(lines, 1200, paragraphs=True) == "\n\n".join(
        [title, "\n".join(left), "\n".join(right), "Page 1"]
    )


def test_a_column_of_short_cells_is_a_table_even_when_wide_enough() -> None:
    lines = []
    for index, (label, amount) in enumerate((("TOTAL", "14.20"), ("CARD", "14.20"), ("Thank you!", ""))):
        lines.append(at(label, 20, 20 + 32 * index))
        if amount:
            lines.append(at(amount, 200, 20 + 32 * index))
    assert page_text(lines, 380) == "TOTAL 14.20\nCARD 14.20\nThank you!"
