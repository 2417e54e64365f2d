"""What each image-generation model accepts, as data (no imports beyond the standard library), so
``validate`` can check image aliases without loading Pillow or LiteLLM. Overridable per alias with
``image:`` in the YAML; image/generation.py checks calls against it."""

from __future__ import annotations

from dataclasses import dataclass

from llmcfg.config.schema import ImageCapsConfig

__all__ = ["IMAGE_MODELS", "IMAGE_PARAMS", "ImageCaps", "image_model", "with_override"]

# Alias ``params`` that are image defaults (a call may override them), checked against the table.
IMAGE_PARAMS = ("size", "quality", "style", "n", "response_format")


@dataclass(frozen=True)
class ImageCaps:
    """What an image model accepts. Empty tuples mean: not checked (unknown)."""

    sizes: tuple[str, ...] = ()
    max_n: int | None = None
    qualities: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    hd_quality: str | None = None  # what --hd means for this model
    default_quality: str | None = None  # what the provider uses when none is sent (for the price)


_GPT_IMAGE = ImageCaps(
    sizes=("1024x1024", "1536x1024", "1024x1536", "auto"),
    max_n=10,
    qualities=("low", "medium", "high", "auto"),
    hd_quality="high",
)
IMAGE_MODELS: dict[str, ImageCaps] = {
    "dall-e-3": ImageCaps(
        sizes=("1024x1024", "1792x1024", "1024x1792"),
        max_n=1,
        qualities=("standard", "hd"),
        styles=("vivid", "natural"),
        hd_quality="hd",
        default_quality="standard",
    ),
    "dall-e-2": ImageCaps(
        sizes=("256x256", "512x512", "1024x1024"),
        max_n=10,
        qualities=("standard",),
        default_quality="standard",
    ),
    "gpt-image-1": _GPT_IMAGE,
    "gpt-image-1-mini": _GPT_IMAGE,
    "gpt-image-1.5": _GPT_IMAGE,
}


def image_model(litellm_model: str) -> ImageCaps | None:
    """The caps of ``provider/model`` when llmcfg's own table knows the model."""
    return IMAGE_MODELS.get(litellm_model.rsplit("/", 1)[-1])


def with_override(caps: ImageCaps, override: ImageCapsConfig | None) -> ImageCaps:
    """``caps`` with what the alias's ``image:`` says instead, where it says something."""
    if override is None:
        return caps
    return ImageCaps(
        sizes=tuple(override.sizes) if override.sizes is not None else caps.sizes,
        max_n=override.max_n if override.max_n is not None else caps.max_n,
        qualities=tuple(override.qualities) if override.qualities is not None else caps.qualities,
        styles=tuple(override.styles) if override.styles is not None else caps.styles,
        hd_quality=override.hd_quality or caps.hd_quality,
        default_quality=override.default_quality or caps.default_quality,
    )
