"""``LLM``: every model of one config behind chat, streams, embeddings, structured output, vision
and OCR. The steps every call shares live in ``calls``; the methods by kind of input live in
``text_methods`` and ``image_methods``."""

from __future__ import annotations

from llmcfg.calls.text import TextMethods
from llmcfg.calls.vision import ImageMethods

__all__ = ["LLM"]


class LLM(TextMethods, ImageMethods):
    """Every model of one config, behind ``chat`` and friends. Cheap to build; the Router comes on
    first use. Share one per process: it holds the connection pools and caches."""
