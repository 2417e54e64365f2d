"""LiteLLM's exceptions translated onto llmcfg's tree, at one choke point.

The message names the alias and model and what was tried, and is cut short: provider messages may
echo a prompt, and never get to carry a key. The original is not kept as ``__cause__`` (its text
repeats the provider's body, which can echo the key, and ``traceback`` prints every cause): the
call pipeline attaches `scrubbed` instead, the original's type and text with every configured key
and anything shaped like a key redacted.
"""

from __future__ import annotations

import re

from llmcfg.exceptions import (
    AuthenticationError,
    ContentPolicyError,
    ContextLengthError,
    InvalidRequestError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)

__all__ = ["UpstreamError", "scrub", "scrubbed", "translate"]

# Checked in order: the first class name found in the exception's MRO decides.
_BY_NAME: tuple[tuple[str, type[ProviderError]], ...] = (
    ("ContextWindowExceededError", ContextLengthError),
    ("ContentPolicyViolationError", ContentPolicyError),
    ("RouterRateLimitError", RateLimitError),
    ("RateLimitError", RateLimitError),
    ("AuthenticationError", AuthenticationError),
    ("PermissionDeniedError", AuthenticationError),
    ("Timeout", ProviderTimeoutError),
    ("APITimeoutError", ProviderTimeoutError),
    ("BadRequestError", InvalidRequestError),
    ("NotFoundError", InvalidRequestError),
    ("UnprocessableEntityError", InvalidRequestError),
)
# Key shapes of the common providers, for keys llmcfg was not configured with (a body that echoes
# another key, a key in a URL): OpenAI/Anthropic/OpenRouter sk-..., Google AIza..., Groq gsk_...,
# xAI xai-..., Hugging Face hf_..., AWS AKIA..., and any bearer token, api-key field or key= query.
_SECRETISH = re.compile(
    r"(\b(?:sk-[A-Za-z0-9_\-]{6,}|AIza[A-Za-z0-9_\-]{20,}|gsk_[A-Za-z0-9]{16,}|xai-[A-Za-z0-9]{16,}"
    r"|hf_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16})|Bearer\s+\S+"
    r"|(?:x-)?api[_-]?key['\"=:\s]+\S+|(?<=[?&])key=[^&\s'\"]+)",
    re.IGNORECASE,
)
_MAX_DETAIL = 300
_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+)")
_CONTEXT_USED = re.compile(r"resulted in (\d+) tokens|requested (\d+) tokens")


def _retry_after(error: BaseException) -> float | None:
    cooldown = getattr(error, "cooldown_time", None)
    if isinstance(cooldown, (int, float)):
        return float(cooldown)
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every configured key (``secrets``) and every key-shaped string redacted."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRETISH.sub("[redacted]", text)


def _detail(error: BaseException, secrets: list[str]) -> str:
    text = str(error).split("\n", 1)[0]
    # LiteLLM repeats the class name ("litellm.AuthenticationError: AuthenticationError: ..."); the
    # message already names it once.
    text = re.sub(rf"^(litellm\.\w+:\s*)?({re.escape(type(error).__name__)}:\s*)*", "", text)
    text = scrub(text, secrets)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"


class UpstreamError(Exception):
    """What the provider library raised, with every key removed. Kept as the ``__cause__`` of
    llmcfg's error instead of the original, whose message (and chain) may echo a key, since
    ``traceback.format_exception`` prints every cause."""

    status_code: int | None = None


def scrubbed(error: BaseException, secrets: list[str]) -> UpstreamError:
    """A stand-in for ``error``: its class name and whole message, keys replaced by [redacted]."""
    cause = UpstreamError(
        f"{type(error).__module__}.{type(error).__qualname__}: {scrub(str(error), secrets)}"
    )
    status = getattr(error, "status_code", None)
    cause.status_code = status if isinstance(status, int) else None
    return cause


def translate(
    error: BaseException,
    *,
    alias: str | None,
    model: str | None,
    tried: tuple[str, ...],
    secrets: list[str] | None = None,
) -> ProviderError:
    names = [cls.__name__ for cls in type(error).__mro__]
    target: type[ProviderError] = ProviderUnavailableError
    for name, cls in _BY_NAME:
        if name in names:
            target = cls
            break
    where = f"alias {alias!r}" + (f" ({model})" if model else "")
    after = f"; tried {', '.join(tried)}" if tried else ""
    message = f"{where} failed with {type(error).__name__}: {_detail(error, secrets or [])}{after}"
    status = getattr(error, "status_code", None)
    translated = target(
        message,
        alias=alias,
        model=model,
        tried=tried,
        status_code=status if isinstance(status, int) else None,
    )
    if isinstance(translated, RateLimitError):
        translated.retry_after = _retry_after(error)
    if isinstance(translated, ContextLengthError):
        limit = _CONTEXT_LIMIT.search(str(error))
        used = _CONTEXT_USED.search(str(error))
        translated.max_tokens = int(limit.group(1)) if limit else None
        translated.tokens = int(used.group(1)) if used else None
    return translated
