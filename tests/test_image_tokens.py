"""Token estimates equal the providers' published worked examples; the JPEG draft shortcut keeps
them."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from llmcfg.images.normalise import normalise
from llmcfg.images.tokens import estimate_image_tokens, optimal_detail, patch_count
from tests.images import jpeg


@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [
        ((1024, 1024), "high", 765),
        ((2048, 4096), "high", 1105),
        ((4096, 8192), "low", 85),
        ((512, 512), "high", 255),
    ],
)
def test_openai_tile_formula(size: tuple[int, int], detail: str, tokens: int) -> None:
    assert estimate_image_tokens(*size, detail=detail, model="gpt-4o") == tokens  # type: ignore[arg-type]


def test_gpt_4o_mini_tile_prices() -> None:
    assert estimate_image_tokens(1024, 1024, model="openai/gpt-4o-mini") == 2833 + 4 * 5667
    assert estimate_image_tokens(1024, 1024, detail="low", model="gpt-4o-mini") == 2833


def test_openai_patch_formula_worked_examples() -> None:
    assert patch_count(1024, 1024) == 1024
    assert patch_count(1800, 2400) == 1452
    assert estimate_image_tokens(1024, 1024, model="gpt-4.1-mini") == 1659  # 1024 × 1.62
    assert estimate_image_tokens(1800, 2400, model="openai/gpt-4.1-nano") == 3572  # 1452 × 2.46


@pytest.mark.parametrize(("size", "tokens"), [((200, 200), 54), ((1000, 1000), 1334), ((1092, 1092), 1590)])
def test_anthropic_area_formula(size: tuple[int, int], tokens: int) -> None:
    assert estimate_image_tokens(*size, model="anthropic/claude-sonnet-4-5") == tokens


def test_anthropic_resizes_long_edge_first() -> None:
    assert estimate_image_tokens(4000, 4000, model="claude-3-5-sonnet") == 1590


@pytest.mark.parametrize(("size", "tokens"), [((384, 384), 258), ((960, 540), 6 * 258)])
def test_gemini_tiles(size: tuple[int, int], tokens: int) -> None:
    assert estimate_image_tokens(*size, model="gemini/gemini-2.0-flash") == tokens


def test_optimal_detail() -> None:
    assert optimal_detail(512, 300) == "low"
    assert optimal_detail(513, 300) == "high"
    assert estimate_image_tokens(300, 300, detail="auto") == 85


@pytest.mark.parametrize(
    ("settings", "size"),
    [
        ({"model": "gpt-4o"}, (1000, 750)),  # 1/4 scale for 1024x768
        ({"model": "gpt-4o", "max_side": 512}, (500, 375)),  # 1/8 scale for 512x384
        ({"model": "gemini/gemini-2.0-flash", "max_side": 2048}, (2000, 1500)),  # 1/2 scale for 2048x1536
        ({"model": "gpt-4o", "max_side": 900}, (900, 675)),  # 1/4 is 10% short: a real resize
    ],
)
def test_jpeg_draft_tolerance_applies_at_every_scale(settings: dict[str, Any], size: tuple[int, int]) -> None:
    """A 4000x3000 photo is decoded at the DCT scale that lands within 5% under the target, and
    sent at that size: no resize pass, and the same tokens as the exact target."""
    prepared = normalise(jpeg(4000, 3000), **settings)
    assert (prepared.width, prepared.height) == size
    assert Image.open(io.BytesIO(prepared.data)).size == size
    if settings == {"model": "gpt-4o"}:
        assert estimate_image_tokens(*size) == estimate_image_tokens(1024, 768) == 765


def test_draft_never_goes_more_than_the_tolerance_under_the_target() -> None:
    """3800 px wide: 1/4 scale is 950 px, 7% under 1024, so the 1/2 scale is decoded and resized."""
    prepared = normalise(jpeg(3800, 2850), model="gpt-4o")
    assert (prepared.width, prepared.height) == (1024, 768)
