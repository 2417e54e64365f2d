"""The process-wide default ``LLM`` behind ``llmcfg.chat(...)``: built on first use, resettable.

It reads $LLMCFG_CONFIG, else ./llm_config.yaml. Tests and long-lived apps that change the config
call ``reset_default()``; nothing else is global.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcfg.calls.client import LLM
    from llmcfg.results import ChatResult, ImageResult, OCRResult, VisionResult

__all__ = [
    "achat",
    "aimagine",
    "aocr",
    "avision",
    "chat",
    "default_llm",
    "imagine",
    "ocr",
    "reset_default",
    "set_default",
    "vision",
]

_lock = threading.Lock()
_default: LLM | None = None


def default_llm() -> LLM:
    """The default LLM, loading the default config on first use."""
    global _default
    if _default is None:
        from llmcfg.calls.client import LLM

        with _lock:
            if _default is None:
                _default = LLM.from_yaml()
    return _default


def set_default(llm: LLM | None) -> None:
    """Make ``llm`` the default (None: load from the default config again on next use)."""
    global _default
    with _lock:
        _default = llm


def reset_default() -> None:
    set_default(None)


def chat(prompt: str | None = None, **kwargs: Any) -> ChatResult:
    """``LLM.chat`` on the default LLM."""
    return default_llm().chat(prompt, **kwargs)


async def achat(prompt: str | None = None, **kwargs: Any) -> ChatResult:
    """``LLM.achat`` on the default LLM."""
    return await default_llm().achat(prompt, **kwargs)


def vision(image: Any, prompt: str, **kwargs: Any) -> VisionResult:
    """``LLM.vision`` on the default LLM."""
    return default_llm().vision(image, prompt, **kwargs)


async def avision(image: Any, prompt: str, **kwargs: Any) -> VisionResult:
    """``LLM.avision`` on the default LLM."""
    return await default_llm().avision(image, prompt, **kwargs)


def ocr(image: Any, mode: str | None = None, **kwargs: Any) -> OCRResult:
    """``LLM.ocr`` on the default LLM."""
    return default_llm().ocr(image, mode, **kwargs)


async def aocr(image: Any, mode: str | None = None, **kwargs: Any) -> OCRResult:
    """``LLM.aocr`` on the default LLM."""
    return await default_llm().aocr(image, mode, **kwargs)


def imagine(prompt: str, **kwargs: Any) -> ImageResult:
    """``LLM.imagine`` on the default LLM."""
    return default_llm().imagine(prompt, **kwargs)


async def aimagine(prompt: str, **kwargs: Any) -> ImageResult:
    """``LLM.aimagine`` on the default LLM."""
    return await default_llm().aimagine(prompt, **kwargs)
