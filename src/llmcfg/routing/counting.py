"""Token counting with LiteLLM's tokenizers (imported on first use).

A message list is counted the way ``litellm.token_counter`` counts it, with what depends only on the
model (its tokenizer, the per-message overhead, how its template renders tools) worked out once per
model instead of on every call: that set-up is two thirds of the counter's time, and every call with
a budget counts its prompt before it is sent. Should LiteLLM's counting internals change shape, the
public ``token_counter`` is used as it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmcfg.routing.router import import_litellm

__all__ = ["count_tokens", "table_cost"]

_litellm: Any = None
_per_model: dict[str, Any] = {}  # LiteLLM's counting set-up for one model
_internals: Any = None  # (token_counter's module, convert_list_message_to_dict), or False: none


def _load() -> Any:
    global _litellm
    _litellm = import_litellm()
    return _litellm


def count_tokens(text_or_messages: str | Sequence[dict[str, Any]], *, model: str = "gpt-4o") -> int:
    """Tokens of a text or a message list for ``model`` (a LiteLLM model string)."""
    litellm = _litellm or _load()
    if isinstance(text_or_messages, str):
        return int(litellm.token_counter(model=model, text=text_or_messages))
    messages = list(text_or_messages)
    # LiteLLM's counter downloads a remote image (detail high) to measure it, under its own SSRF
    # check, weaker than llmcfg's fetcher: such an image is counted at LiteLLM's default instead.
    remote = _remote_images(messages)
    counted = _count_messages(litellm, model, messages, remote)
    if counted is not None:
        return counted
    return int(litellm.token_counter(model=model, messages=messages, use_default_image_token_count=remote))


def _counting_internals() -> Any:
    global _internals
    if _internals is None:
        try:
            from litellm.litellm_core_utils import token_counter as module
            from litellm.utils import convert_list_message_to_dict

            needed = (module._MessageCountParams, module._count_messages, module._count_extra)
            _internals = (module, convert_list_message_to_dict) if all(map(callable, needed)) else False
        except (ImportError, AttributeError):  # pragma: no cover - another LiteLLM: the public counter
            _internals = False
    return _internals


def _count_messages(litellm: Any, model: str, messages: list[dict[str, Any]], remote: bool) -> int | None:
    """``token_counter(model=model, messages=messages)``'s answer with the model's set-up kept, or
    None when that cannot be done (no such internals, or the counter switched off)."""
    internals = _counting_internals()
    if not internals or litellm.disable_token_counter is True:
        return None
    module, convert = internals
    params = _per_model.get(model)
    if params is None:
        if len(_per_model) > 256:
            _per_model.clear()
        params = _per_model[model] = module._MessageCountParams(model, None)
    converted = convert(messages)
    tokens = module._count_messages(params, converted, remote, None)
    system = any(message.get("role", None) == "system" for message in converted)
    return int(tokens + module._count_extra(params.count_function, None, None, system, params.tool_section))


def _remote_images(messages: list[dict[str, Any]]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                value = part.get("image_url")
                url = value.get("url") if isinstance(value, dict) else value
                if not (isinstance(url, str) and url[:5].lower() == "data:"):
                    return True
    return False


def table_cost(model: str, usage: Any) -> float | None:
    """LiteLLM's price of ``usage`` (a response's or a stream's last ``Usage``) for ``model``, the
    figure a plain response carries as its ``response_cost``: it knows cached-token and tiered rates
    (gemini-2.5-pro's above 200k tokens). None when LiteLLM cannot price it."""
    litellm = _litellm or _load()
    try:
        prompt, completion = litellm.cost_per_token(model=model, usage_object=usage)
    except Exception:  # any failure of LiteLLM's pricing: llmcfg prices the call itself
        return None
    total = float(prompt) + float(completion)
    return total if total > 0 else None
