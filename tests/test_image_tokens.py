"""Token estimates equal the providers' published worked examples."""

from __future__ import annotations

import pytest

from llmcfg.images.tokens import estimate_image_tokens, optimal_detail, patch_count


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
