"""What the bytes are is judged from the bytes; a bomb, a truncated file or another format is refused
with a specific error before any pixel reaches a model."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from llmcfg import ImageTooLargeError, NotAnImageError
from llmcfg.images.decode import decode, sniff
from tests.images import encoded, jpeg, png

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def _image(fmt: str, width: int = 40, height: int = 30) -> bytes:
    return encoded(Image.new("RGB", (width, height), (10, 120, 200)), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_supported_format_is_sniffed_and_opened(fmt: str) -> None:
    data = _image(fmt)
    assert sniff(data) == fmt.lower()
    decoded = decode(data)
    assert (decoded.format, decoded.mime, decoded.width, decoded.height) == (
        fmt.lower(),
        FORMATS[fmt],
        40,
        30,
    )
    assert decoded.image.size == (40, 30)
    assert decoded.image.convert("RGB").getpixel((5, 5)) == pytest.approx((10, 120, 200), abs=8)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",  # a JPEG's magic cut short
        b"\xff\xd8\xfe" + b"\0" * 20,
        b"\x89PNG\r\n\x1a\x0b" + b"\0" * 20,  # the PNG signature with its last byte wrong
        b"\x89PNG\r\n\x1a",
        b"GIF88a" + b"\0" * 20,
        b"RIFF\0\0\0\0WEBX" + b"\0" * 20,
        b"RIFX\0\0\0\0WEBP" + b"\0" * 20,
        b"RIFF\0\0\0WEBP" + b"\0" * 20,  # WEBP one byte too early
        b"BM" + b"\0" * 60,
        b"%PDF-1.7\n",
        b"<!DOCTYPE html><html></html>",
    ],
)
def test_other_bytes_are_not_an_image_said_from_the_bytes(data: bytes) -> None:
    assert sniff(data) is None
    with pytest.raises(
        NotAnImageError, match=r"^not a supported image \(JPEG, PNG, WEBP or GIF, judged from"
    ):
        decode(data)


def test_both_gif_versions_are_gif() -> None:
    assert sniff(b"GIF87a" + b"\0" * 10) == "gif"
    assert sniff(b"GIF89a" + b"\0" * 10) == "gif"


def test_a_png_that_claims_to_be_a_png_but_is_garbage_is_unreadable() -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"garbage" * 10
    with pytest.raises(NotAnImageError, match=r"^unreadable PNG image: "):
        decode(data)


def test_only_the_sniffed_format_may_open_the_bytes() -> None:
    """A JPEG magic in front of a PNG body: Pillow must not fall back to guessing another format."""
    data = b"\xff\xd8\xff" + png()[3:]
    with pytest.raises(NotAnImageError, match=r"^unreadable JPEG image: "):
        decode(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_truncated_file_is_refused_by_default(fmt: str) -> None:
    whole = encoded(Image.effect_noise((120, 90), 64).convert("RGB"), fmt)
    cut = whole[: len(whole) * 2 // 3]
    with pytest.raises(NotAnImageError, match=rf"^(truncated or corrupt|unreadable) {fmt} image: "):
        decode(cut)
    if fmt == "PNG":  # the header is whole: opening works, only decoding the pixels finds the cut
        with pytest.raises(NotAnImageError, match=r"^truncated or corrupt PNG image: "):
            decode(cut, verify=True)
        unverified = decode(cut, verify=False)  # normalisation decodes it anyway and gets the error there
        assert unverified.width == 120


def test_the_verified_image_can_still_be_decoded_at_a_reduced_size() -> None:
    """verify decodes once; the image handed on is a fresh one, so JPEG draft mode still applies."""
    decoded = decode(jpeg(400, 300))
    assert decoded.image.draft("RGB", (100, 75)) is not None
    assert decoded.image.size == (100, 75)


def test_the_pixel_limit_is_width_times_height_and_the_limit_itself_is_allowed() -> None:
    data = png(300, 200)
    assert decode(data, max_pixels=60_000).width == 300
    with pytest.raises(ImageTooLargeError, match=r"^image is 300x200 = 60,000 pixels; the limit is 59,999$"):
        decode(data, max_pixels=59_999)


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header (with a valid checksum) claims another size: only the header is read."""
    real = png(1, 1)
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + real[24:29]
    return real[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + real[33:]


def test_the_default_pixel_limit_is_fifty_megapixels() -> None:
    """A header claiming one pixel more than 50 MP is refused from the header alone, before any pixel."""
    with pytest.raises(ImageTooLargeError, match="50000001x1 = 50,000,001 pixels; the limit is 50,000,000"):
        decode(_png_claiming(50_000_001, 1))
    with pytest.raises(NotAnImageError, match=r"^truncated or corrupt PNG"):  # 50 MP passes the limit
        decode(_png_claiming(50_000_000, 1))


def test_pillows_bomb_warning_is_a_refusal_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above Pillow's bomb limit (a warning up to twice it, an error beyond) it is refused as a bomb."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for size in ((40, 40), (50, 50)):  # 1600 px: the warning; 2500 px: Pillow's error
        with pytest.raises(ImageTooLargeError, match=r"^image refused as a decompression bomb: "):
            decode(png(*size), max_pixels=10**9)
    assert decode(png(30, 30), max_pixels=10**9).width == 30


def test_an_animated_gif_is_checked_on_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode(buffer.getvalue())
    assert decoded.format == "gif"
    assert decoded.image.tell() == 0
    assert decoded.image.convert("RGB").getpixel((1, 1)) == (255, 0, 0)
