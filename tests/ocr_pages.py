"""Pages rendered with Pillow for the offline OCR tests and benchmark, with their exact text."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = Path("/usr/share/fonts/truetype/dejavu")

PARAGRAPH = [
    "The quarterly report shows revenue of 4,215,300 EUR,",
    "an increase of 12.4 percent over the same period last year.",
    "Operating costs fell to 2,980,150 EUR after the move",
    "to the new warehouse in Rotterdam was completed in May.",
    "Customer orders: 18,442 (returns 2.1%), average value 228.57.",
]


def font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONTS / name
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def page(
    lines: list[str], *, font_name: str, size: int, width: int, margin: int = 40, spacing: float = 1.6
) -> tuple[bytes, str]:
    face = font(font_name, size)
    height = int(margin * 2 + len(lines) * size * spacing)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * size * spacing), line, font=face, fill="black")
    return png(image), "\n".join(lines)


def two_columns(size: int = 22) -> tuple[bytes, str]:
    left = ["Left column first line", "continues with more words", "and ends on this line."]
    right = ["Right column starts here", "with its own sentences", "that finish the page."]
    face = font("DejaVuSans.ttf", size)
    image = Image.new("RGB", (1200, 420), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (40, 30),
        "A Two Column Newsletter Title Spanning The Page",
        font=font("DejaVuSans-Bold.ttf", size + 6),
        fill="black",
    )
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        y = 120 + index * size * 2
        draw.text((40, y), a, font=face, fill="black")
        draw.text((640, y), b, font=face, fill="black")
    reference = "\n".join(["A Two Column Newsletter Title Spanning The Page", *left, *right])
    return png(image), reference


def receipt() -> tuple[bytes, str]:
    lines = [
        "CORNER CAFE",
        "Table 7",
        "2 Cappuccino    7.80",
        "1 Croissant     2.90",
        "1 Orange juice  3.50",
        "TOTAL          14.20",
        "CARD           14.20",
        "Thank you!",
    ]
    return page(lines, font_name="DejaVuSansMono.ttf", size=20, width=380, margin=24)


def table_invoice(size: int = 20) -> tuple[bytes, str]:
    """An invoice with a 4-column table (totals in its last two columns) and a two-line footer:
    read row by row, never column by column, and the footer stays last."""
    face = font("DejaVuSans.ttf", size)
    image = Image.new("RGB", (1000, 720), "white")
    draw = ImageDraw.Draw(image)
    lines = [
        "INVOICE 2026-118",
        "Harbour Supplies Ltd, 4 Dock Road, Leith",
        "Billed to: Vega Studio, 18 Rue Cler, Paris",
    ]
    draw.text((50, 30), lines[0], font=font("DejaVuSans-Bold.ttf", size + 10), fill="black")
    draw.text((50, 90), lines[1], font=face, fill="black")
    draw.text((50, 122), lines[2], font=face, fill="black")
    table = [
        ("Description", "Qty", "Unit price", "Amount"),
        ("Oak desk, 160 cm", "2", "340.00", "680.00"),
        ("Office chair", "4", "129.50", "518.00"),
        ("Cable tray", "6", "12.75", "76.50"),
        ("Delivery", "1", "45.00", "45.00"),
        ("", "", "Subtotal", "1,319.50"),
        ("", "", "VAT 20%", "263.90"),
        ("", "", "Total", "1,583.40"),
    ]
    for index, row in enumerate(table):
        for x, cell in zip((50, 470, 620, 820), row, strict=True):
            draw.text((x, 200 + index * 40), cell, font=face, fill="black")
        lines.append(" ".join(cell for cell in row if cell))
    footer = ["Payment within 30 days to IBAN GB29 NWBK 6016 1331 9268 19.", "Thank you for your order."]
    for index, line in enumerate(footer):
        draw.text((50, 580 + index * 32), line, font=face, fill="black")
    return png(image), "\n".join([*lines, *footer])


def small_print(width: int = 3600, size: int = 15, repeat: int = 3) -> tuple[bytes, str]:
    """A large page of small print: legible at full resolution, lost when shrunk to 1024 px."""
    sentences = [
        "Clause 4.2: The supplier shall deliver all goods within 14 days of the order date.",
        "Clause 4.3: Late deliveries incur a penalty of 0.5 percent per day, capped at 10 percent.",
        "Clause 5.1: Payment is due 30 days after receipt of a correct and complete invoice.",
        "Clause 5.2: Disputed amounts must be notified in writing within 8 business days.",
        "Clause 6.1: Either party may terminate this agreement with 90 days written notice.",
        "Clause 6.4: Confidential information remains protected for 5 years after termination.",
    ]
    return page(
        sentences * repeat, font_name="DejaVuSans.ttf", size=size, width=width, margin=60, spacing=2.2
    )


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over the reference length (whitespace runs folded)."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    previous = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        current = [i]
        for j, b in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / max(1, len(ref))
