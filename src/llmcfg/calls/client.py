"""``LLM``: every model of one config behind chat, streams, embeddings, structured output, vision
and OCR. Every call runs the one protocol of ``calls.pipeline`` (its steps in ``calls.core`` and
``calls.outcome``); the methods by kind of input live in ``calls.text``, ``calls.extract`` (structured
output) and ``calls.vision``."""

from __future__ import annotations

from llmcfg.calls.extract import ExtractMethods
from llmcfg.calls.text import TextMethods
from llmcfg.calls.vision import ImageMethods
from llmcfg.reload import Reloadable

__all__ = ["LLM"]


class LLM(Reloadable, TextMethods, ExtractMethods, ImageMethods):
    """Every model of one config, behind ``chat`` and friends. Cheap to build; the Router comes on
    first use. Share one per process: it holds the connection pools and caches."""
