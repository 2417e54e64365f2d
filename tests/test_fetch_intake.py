"""What reaches the fetcher from ``vision``/``ocr``: URL-like strings of any scheme are refused by
the fetcher (never looked up as files), the image cache serves nothing the CURRENT policy refuses,
``fetch.local_files: false`` keeps strings off the disk, and llmcfg's own pixel limit holds below
Pillow's."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, ForbiddenHostError, ImageError, ImageTooLargeError, NotAnImageError, load_config
from llmcfg.images.decode import decode
from llmcfg.images.intake import local_bytes
from llmcfg.images.normalise import normalise
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC
from tests.images import png

PERMISSIVE = "fetch: {allow_http: true, allow_private_networks: ['127.0.0.1/32']}"


def make_llm(write_config: Any, fake: FakeProvider, fetch: str, name: str, cache_dir: str = "cache") -> LLM:
    text = BASIC.replace(
        "logging: {cost_log: costs.jsonl}",
        f"logging: {{cost_log: costs.jsonl}}\ncache: {{dir: {cache_dir}}}\n{fetch}\n",
    )
    return LLM(use_fake(load_config(write_config(text, name)), fake))


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("ftp://example.test/photo.png", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("FILE:///tmp/x.png", "scheme 'file' is not allowed"),
        ("gopher://example.test/x.png", "scheme 'gopher' is not allowed"),
        ("http://[::1/x.png", "not a valid URL"),
    ],
)
async def test_vision_refuses_other_schemes_as_fetch_refusals_not_missing_files(
    write_config: Any, fake: FakeProvider, image: str, reason: str
) -> None:
    llm = make_llm(write_config, fake, "fetch: {allow_http: true}", "a.yaml")
    with pytest.raises(ForbiddenHostError, match=reason):
        llm.vision(image, "what?", model="gpt4o")
    with pytest.raises(ForbiddenHostError, match=reason):
        await llm.avision(image, "what?", model="gpt4o")
    assert fake.requests == []


async def test_a_cached_image_is_served_only_under_the_current_policy(
    write_config: Any, fake: FakeProvider
) -> None:
    """A permissive LLM caches an internal image; a strict one sharing the cache folder must
    refuse the URL, not serve the cached bytes."""
    url = fake.serve("/internal.png", png(), content_type="image/png")
    permissive = make_llm(write_config, fake, PERMISSIVE, "open.yaml")
    strict = make_llm(write_config, fake, "fetch: {allow_http: true}", "strict.yaml")
    assert permissive.vision(url, "what?", model="gpt4o").text
    assert fake.gets == ["/internal.png"]
    refused = r"127\.0\.0\.1 is not a public internet address"
    with pytest.raises(ForbiddenHostError, match=refused):
        strict.vision(url, "something else?", model="gpt4o")
    with pytest.raises(ForbiddenHostError, match=refused):
        await strict.avision(url, "something else?", model="gpt4o")
    assert fake.gets == ["/internal.png"]
    assert len(fake.requests) == 1  # nothing was sent to the model for the strict LLM
    permissive.vision(url, "again?", model="gpt4o")
    assert fake.gets == ["/internal.png"]  # the permissive one still gets its cache hit


async def test_local_files_false_never_reads_a_string_from_disk(
    write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    llm = make_llm(write_config, fake, "fetch: {local_files: false}", "nofiles.yaml")
    for name in (str(secret), "secret.png", "../secret.png"):
        with pytest.raises(ForbiddenHostError, match=r"fetch.local_files: false.*pathlib.Path"):
            llm.vision(name, "what?", model="gpt4o")
        with pytest.raises(ForbiddenHostError, match=r"fetch\.local_files: false"):
            await llm.avision(name, "what?", model="gpt4o")
    assert fake.requests == []
    assert llm.vision(secret, "what?", model="gpt4o").text  # a Path is the app's explicit choice
    b64 = base64.b64encode(png()).decode()
    assert llm.vision(b64, "what?", model="gpt4o", cache=False).text  # base64 is not a file
    assert llm.vision(f"data:image/png;base64,{b64}", "what?", model="gpt4o", cache=False).text


def test_local_files_default_reads_strings_as_before(tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(png())
    assert local_bytes(str(picture)) == png()
    with pytest.raises(ForbiddenHostError):
        local_bytes(str(picture), local_files=False)
    with pytest.raises(ImageError, match="image file not found"):
        local_bytes(str(tmp_path / "missing.png"))


def _big_png(width: int, height: int) -> bytes:
    return png(width, height, (255, 255, 255))


def test_own_pixel_limit_holds_below_pillows(write_config: Any, fake: FakeProvider) -> None:
    """3000x2000 = 6 MP: far below Pillow's own bomb limit (89/179 MP), above a configured 5 MP."""
    data = _big_png(3000, 2000)
    with pytest.raises(ImageTooLargeError, match=r"3000x2000 = 6,000,000 pixels; the limit is 5,000,000"):
        decode(data, max_pixels=5_000_000)
    with pytest.raises(ImageTooLargeError, match="the limit is 5,000,000"):
        normalise(data, max_pixels=5_000_000)
    assert decode(data, max_pixels=6_000_000).width == 3000  # the limit itself is allowed
    llm = make_llm(write_config, fake, "fetch: {max_pixels: 5000000}", "pixels.yaml")
    with pytest.raises(ImageTooLargeError, match="the limit is 5,000,000"):
        llm.vision(data, "what?", model="gpt4o")
    assert fake.requests == []


def test_magic_number_refusal_says_why_before_pillow_sees_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was asked to open bytes that are not an image")

    monkeypatch.setattr(Image, "open", never)
    for body in (b"<!DOCTYPE html><html><body>hi</body></html>", b"%PDF-1.7\n", b"BM" + b"\0" * 60):
        with pytest.raises(
            NotAnImageError, match=r"not a supported image \(JPEG, PNG, WEBP or GIF, judged from its bytes\)"
        ):
            decode(body)
