"""llmcfg: one YAML file to a production LLM setup on LiteLLM.

    import llmcfg
    llm = llmcfg.LLM.from_yaml("llm_config.yaml")    # validated; the Router is built on first use
    r = llm.chat("Hello", quality="fast")             # or model="gpt4o", messages=[...], system="..."
    print(r.text, r.alias, r.cost_usd, r.fallbacks_tried)
    llmcfg.chat("Hello")                               # the default LLM: $LLMCFG_CONFIG or ./llm_config.yaml

Public names are imported on first access, so ``import llmcfg`` stays cheap and never imports
litellm. Errors: see ``llmcfg.exceptions`` (all rooted at ``LLMCfgError``). Test helpers:
``llmcfg.testing``.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING, Any

# LiteLLM downloads its price table at import unless told not to; the user's own choice wins.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# onnxruntime (the offline OCR engine's runtime; 1.32 on Linux) sends usage telemetry to
# mobile.events.data.microsoft.com from its import on, every few seconds: an offline engine must not.
# Read once, when onnxruntime loads, so it is set here, before any llmcfg code can import it; the
# user's own choice wins (ORT_DISABLE_TELEMETRY=0).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from llmcfg.exceptions import (  # cheap: plain classes, no dependencies
    AuthenticationError,
    BudgetExceededError,
    BudgetStoreError,
    CapabilityError,
    ConfigError,
    ConfigIssue,
    ContentPolicyError,
    ContextLengthError,
    CredentialError,
    ForbiddenHostError,
    ImageError,
    ImageFetchError,
    ImageTooLargeError,
    InvalidRequestError,
    LLMCfgError,
    MissingDependencyError,
    NotAnImageError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StructuredOutputError,
    UnknownAliasError,
    UnsupportedParameterError,
)

if TYPE_CHECKING:
    from llmcfg.calls.client import LLM
    from llmcfg.calls.streaming import AsyncChatStream, ChatStream
    from llmcfg.calls.structured import extract_json
    from llmcfg.config.load import load_config, parse_config
    from llmcfg.config.schema import Config
    from llmcfg.default import (
        achat,
        aocr,
        avision,
        chat,
        default_llm,
        ocr,
        reset_default,
        set_default,
        vision,
    )
    from llmcfg.images.fetch import FetchedImage, ImageFetcher
    from llmcfg.images.tokens import estimate_image_tokens, optimal_detail
    from llmcfg.results import (
        CallResult,
        ChatResult,
        EmbedResult,
        ExtractResult,
        OCRResult,
        ToolCall,
        VisionResult,
    )
    from llmcfg.routing.counting import count_tokens

# Imported on first access: pydantic, structlog and yaml cost more than the whole of the rest.
_LAZY = {
    "LLM": "llmcfg.calls.client",
    "load_config": "llmcfg.config.load",
    "parse_config": "llmcfg.config.load",
    "Config": "llmcfg.config.schema",
    "ChatResult": "llmcfg.results",
    "VisionResult": "llmcfg.results",
    "CallResult": "llmcfg.results",
    "EmbedResult": "llmcfg.results",
    "ExtractResult": "llmcfg.results",
    "ToolCall": "llmcfg.results",
    "ChatStream": "llmcfg.calls.streaming",
    "AsyncChatStream": "llmcfg.calls.streaming",
    "count_tokens": "llmcfg.routing.counting",
    "extract_json": "llmcfg.calls.structured",
    "OCRResult": "llmcfg.results",
    "vision": "llmcfg.default",
    "imagine": "llmcfg.default",
    "aimagine": "llmcfg.default",
    "ImageResult": "llmcfg.results",
    "GeneratedImage": "llmcfg.results",
    "avision": "llmcfg.default",
    "ocr": "llmcfg.default",
    "aocr": "llmcfg.default",
    "ImageFetcher": "llmcfg.images.fetch",
    "FetchedImage": "llmcfg.images.fetch",
    "estimate_image_tokens": "llmcfg.images.tokens",
    "optimal_detail": "llmcfg.images.tokens",
    "chat": "llmcfg.default",
    "achat": "llmcfg.default",
    "default_llm": "llmcfg.default",
    "reset_default": "llmcfg.default",
    "set_default": "llmcfg.default",
}

__all__ = [
    "LLM",
    "AsyncChatStream",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetStoreError",
    "CallResult",
    "CapabilityError",
    "ChatResult",
    "ChatStream",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ContentPolicyError",
    "ContextLengthError",
    "CredentialError",
    "EmbedResult",
    "ExtractResult",
    "FetchedImage",
    "ForbiddenHostError",
    "GeneratedImage",
    "ImageError",
    "ImageFetchError",
    "ImageFetcher",
    "ImageResult",
    "ImageTooLargeError",
    "InvalidRequestError",
    "LLMCfgError",
    "MissingDependencyError",
    "NotAnImageError",
    "OCRResult",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "StructuredOutputError",
    "ToolCall",
    "UnknownAliasError",
    "UnsupportedParameterError",
    "VisionResult",
    "achat",
    "aimagine",
    "aocr",
    "avision",
    "chat",
    "count_tokens",
    "default_llm",
    "estimate_image_tokens",
    "extract_json",
    "imagine",
    "load_config",
    "ocr",
    "optimal_detail",
    "parse_config",
    "reset_default",
    "set_default",
    "vision",
]
__version__ = "0.1.0"


class _Package(types.ModuleType):
    """``llmcfg.ocr`` is the function, also once the ``llmcfg.ocr`` subpackage has been imported
    (by the first OCR call): the import system sets a package's attribute to each submodule it
    loads, which turned ``llmcfg.ocr(...)`` into "'module' object is not callable" on the second
    call. The subpackage is still imported by name (``from llmcfg.ocr.engine import ...``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "ocr" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmcfg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
