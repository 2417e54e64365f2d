"""Image token estimates with the providers' published formulas, before any call is made.

- OpenAI tiles (gpt-4o, gpt-4.1, o1/o3...): fit 2048×2048, then shortest side 768; 85 + 170 per
  512-px tile at detail high, 85 at low (gpt-4o-mini: 2833 + 5667 per tile).
- OpenAI patches (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano): 32-px patches capped at 1536,
  times the model's multiplier.
- Anthropic: long edge ≤ 1568 and about 1.15 MP, then width·height/750.
- Gemini: 258 tokens when both sides ≤ 384, else 258 per tile (tile side = shortest side / 1.5).
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["estimate_image_tokens", "fit_within", "optimal_detail", "patch_count", "target_size"]

Detail = Literal["low", "high", "auto"]

_TILE_MODELS = {"gpt-4o-mini": (2833, 5667)}  # (base, per tile); others: (85, 170)
_PATCH_MULTIPLIERS = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
}
_ANTHROPIC_LONG_EDGE = 1568
_ANTHROPIC_MAX_PIXELS = 1_192_464  # 1092 × 1092, Anthropic's largest 1:1 size


def _family(model: str) -> str:
    name = model.rsplit("/", 1)[-1].lower()
    if "claude" in name or model.startswith(("anthropic/", "bedrock/anthropic")):
        return "anthropic"
    if "gemini" in name:
        return "gemini"
    if any(name.startswith(prefix) for prefix in _PATCH_MULTIPLIERS):
        return "patch"
    return "openai"


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """Scale down (never up) to fit, keeping the aspect ratio."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _openai_tile_size(width: int, height: int) -> tuple[int, int]:
    width, height = fit_within(width, height, 2048, 2048)
    shortest = min(width, height)
    if shortest > 768:
        scale = 768 / shortest
        width, height = round(width * scale), round(height * scale)
    return width, height


def patch_count(width: int, height: int, *, patch: int = 32, budget: int = 1536) -> int:
    """Patches the gpt-4.1-mini family bills for, before its multiplier (OpenAI's worked examples)."""
    patches = math.ceil(width / patch) * math.ceil(height / patch)
    if patches <= budget:
        return patches
    shrink = math.sqrt(patch * patch * budget / (width * height))
    scaled_w, scaled_h = width * shrink, height * shrink
    fit = math.floor(scaled_w / patch) / (scaled_w / patch)  # whole patches across the width
    scaled_w, scaled_h = scaled_w * fit, scaled_h * fit
    return math.ceil(math.floor(scaled_w) / patch) * math.ceil(math.floor(scaled_h) / patch)


def _anthropic_size(width: int, height: int) -> tuple[int, int]:
    width, height = fit_within(width, height, _ANTHROPIC_LONG_EDGE, _ANTHROPIC_LONG_EDGE)
    if width * height > _ANTHROPIC_MAX_PIXELS:
        scale = math.sqrt(_ANTHROPIC_MAX_PIXELS / (width * height))
        width, height = math.floor(width * scale), math.floor(height * scale)
    return width, height


def estimate_image_tokens(width: int, height: int, *, detail: Detail = "high", model: str = "gpt-4o") -> int:
    """Input tokens one image costs on ``model`` (a LiteLLM model string or bare name)."""
    if width <= 0 or height <= 0:
        raise ValueError("image sides must be positive")
    family = _family(model)
    if detail == "auto":
        detail = optimal_detail(width, height)
    if family == "anthropic":
        w, h = _anthropic_size(width, height)
        return math.ceil(w * h / 750)
    if family == "gemini":
        if width <= 384 and height <= 384:
            return 258
        unit = math.floor(min(width, height) / 1.5)
        return 258 * math.ceil(width / unit) * math.ceil(height / unit)
    if family == "patch":
        name = model.rsplit("/", 1)[-1].lower()
        multiplier = next(m for prefix, m in _PATCH_MULTIPLIERS.items() if name.startswith(prefix))
        return math.ceil(patch_count(width, height) * multiplier)
    base, per_tile = _TILE_MODELS.get(model.rsplit("/", 1)[-1].lower(), (85, 170))
    if detail == "low":
        return base
    w, h = _openai_tile_size(width, height)
    return base + per_tile * math.ceil(w / 512) * math.ceil(h / 512)


def optimal_detail(width: int, height: int) -> Literal["low", "high"]:
    """'low' when the image fits OpenAI's 512×512 low-detail view anyway, else 'high'."""
    return "low" if width <= 512 and height <= 512 else "high"


def target_size(
    width: int, height: int, *, model: str = "gpt-4o", detail: Detail = "high"
) -> tuple[int, int]:
    """The largest size the model family can use: sending more pixels only costs bandwidth."""
    family = _family(model)
    if family == "anthropic":
        return _anthropic_size(width, height)
    if family == "gemini":
        return fit_within(width, height, 3072, 3072)
    if family == "patch":
        return fit_within(width, height, 2048, 2048)
    if detail == "low":
        return fit_within(width, height, 512, 512)
    return _openai_tile_size(width, height)
