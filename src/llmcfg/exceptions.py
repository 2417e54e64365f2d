"""Every error llmcfg raises, in one tree, so callers can catch as broadly or narrowly as they need.

    LLMCfgError
    ├── ConfigError                 the YAML is broken, invalid or inconsistent (file:line, dotted path)
    ├── CredentialError             an alias needs an environment variable that is not set
    ├── MissingDependencyError      an alias needs an optional extra that is not installed
    ├── UnknownAliasError           a call named an alias or quality that the config does not have
    ├── CapabilityError             the chosen model cannot do the job (no vision, not an image model)
    ├── UnsupportedParameterError   a call's keyword argument is a typo or not one the provider takes
    ├── BudgetExceededError         a limit would be passed by this call; nothing was sent
    ├── BudgetStoreError            the budget ledger (SQLite file, Redis) is locked or unreachable
    ├── ImageError                  an image could not be taken in
    │   └── ImageFetchError
    │       ├── ForbiddenHostError
    │       ├── ImageTooLargeError
    │       └── NotAnImageError
    └── ProviderError               the provider (or every fallback) failed; the original is __cause__
        ├── RateLimitError          .retry_after (seconds) when the provider said
        ├── AuthenticationError
        ├── InvalidRequestError
        │   ├── ContextLengthError
        │   └── ContentPolicyError
        ├── ProviderTimeoutError
        ├── ProviderUnavailableError
        └── StructuredOutputError

Messages never contain API keys or whole prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetStoreError",
    "CapabilityError",
    "ConfigError",
    "ConfigIssue",
    "ContentPolicyError",
    "ContextLengthError",
    "CredentialError",
    "ForbiddenHostError",
    "ImageError",
    "ImageFetchError",
    "ImageTooLargeError",
    "InvalidRequestError",
    "LLMCfgError",
    "MissingDependencyError",
    "NotAnImageError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "StructuredOutputError",
    "UnknownAliasError",
    "UnsupportedParameterError",
]


class LLMCfgError(Exception):
    """Root of every error llmcfg raises."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where it is and what is wrong."""

    message: str
    location: str = ""  # dotted path inside the document, e.g. presets.vision.best
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        path = f"{self.location}: " if self.location else ""
        return f"{where}{path}{self.message}"


class ConfigError(LLMCfgError):
    """The config cannot be used. ``issues`` lists every problem found, each with its location."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str) -> None:
        if isinstance(issues, str):
            issues = ConfigIssue(issues)
        self.issues = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        lines = [str(issue) for issue in self.issues]
        head = (
            lines[0] if len(lines) == 1 else f"{len(lines)} problems in the config:\n  " + "\n  ".join(lines)
        )
        super().__init__(head)


class CredentialError(LLMCfgError):
    """An environment variable an alias needs is not set. Names the variable, never a value."""

    def __init__(
        self,
        variable: str,
        alias: str | None,
        provider: str | None = None,
        *,
        options: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.variable = variable
        self.alias = alias
        self.provider = provider
        # (alias, what it lacks) for every option of a fallback chain, when none could run
        self.options = options
        self.variables = tuple(
            dict.fromkeys([variable, *(need for _, need in options if need.isidentifier())])
        )
        user = f"alias {alias!r}" if alias else f"provider {provider!r}"
        via = f" (provider {provider!r})" if alias and provider else ""
        if len(options) > 1:
            listed = "; ".join(f"{name!r} needs {need}" for name, need in options)
            message = (
                f"no option of alias {alias!r} can run now: {listed}. "
                f"Set any of {', '.join(self.variables)} and retry."
            )
        else:
            message = f"environment variable {variable} is not set; {user}{via} needs it. Set it and retry."
        super().__init__(message)


class MissingDependencyError(LLMCfgError):
    """An alias needs an optional extra (e.g. the offline OCR engine) that is not installed."""

    def __init__(self, alias: str, hint: str) -> None:
        self.alias = alias
        super().__init__(f"alias {alias!r}: {hint}")


class UnknownAliasError(LLMCfgError):
    """A call asked for an alias, kind or quality the config does not define."""


class CapabilityError(LLMCfgError):
    """The model behind an alias cannot do what the call asks (e.g. images to a text-only model)."""


class UnsupportedParameterError(LLMCfgError, TypeError):
    """A call passed a keyword argument that is misspelt, or that the alias's provider does not take
    (checked before anything is sent; also a TypeError, as for any wrong keyword argument)."""


class BudgetExceededError(LLMCfgError):
    """The call would pass a budget limit; it was not sent."""

    def __init__(
        self, limit_name: str, *, spent_usd: float, limit_usd: float, estimate_usd: float, basis: str = ""
    ) -> None:
        self.limit_name = limit_name
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        self.estimate_usd = float(estimate_usd)
        self.basis = basis  # how the estimate was reached: which output figure it assumed
        super().__init__(
            f"budget {limit_name} would be exceeded: spent ${spent_usd:.6f} of ${limit_usd:.6f}, "
            f"this call may cost up to ${estimate_usd:.6f}" + (f" (estimate: {basis})" if basis else "")
        )


class BudgetStoreError(LLMCfgError):
    """The budget ledger (``budgets.store``) could not be used: the SQLite file stayed locked by
    another process or cannot be opened, or Redis did not answer. Raised before sending: the call
    was not made. (When settling fails after the call was made, the answer is returned and an
    ``llm.budget_settle_failed`` warning says so: the reservation stays counted until it expires.)
    Not a provider failure: retrying another model would not help, fixing the store does."""

    def __init__(self, store: str, problem: str, advice: str) -> None:
        self.store = store  # the SQLite file or the Redis URL (password hidden)
        super().__init__(f"budget store {store}: {problem}; {advice}")


class ImageError(LLMCfgError):
    """An image could not be read, decoded or accepted."""


class ImageFetchError(ImageError):
    """An image URL was refused or could not be downloaded."""


class ForbiddenHostError(ImageFetchError):
    """The URL's host is not allowed (whitelist, private address, scheme, userinfo)."""


class ImageTooLargeError(ImageFetchError):
    """The image is larger than the configured cap (bytes or pixels)."""


class NotAnImageError(ImageFetchError):
    """The bytes are not a supported image (JPEG, PNG, WEBP, GIF), or are truncated."""


class ProviderError(LLMCfgError):
    """The provider failed (after retries and fallbacks). ``alias``/``model`` say which one."""

    def __init__(
        self,
        message: str,
        *,
        alias: str | None = None,
        model: str | None = None,
        tried: tuple[str, ...] = (),
        status_code: int | None = None,
    ) -> None:
        self.alias = alias
        self.model = model
        self.tried = tried
        self.status_code = status_code
        super().__init__(message)


class RateLimitError(ProviderError):
    """The provider rate-limited the call. ``retry_after`` is in seconds when known."""

    retry_after: float | None = None


class AuthenticationError(ProviderError):
    """The provider refused the credentials."""


class InvalidRequestError(ProviderError):
    """The provider refused the request as malformed or unsupported."""


class ContextLengthError(InvalidRequestError):
    """The prompt does not fit the model's context window."""

    tokens: int | None = None
    max_tokens: int | None = None


class ContentPolicyError(InvalidRequestError):
    """The provider refused the content."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""


class ProviderUnavailableError(ProviderError):
    """The provider failed (5xx, connection error, unreadable answer)."""


class StructuredOutputError(ProviderError):
    """The model's answer did not validate against the requested schema."""

    raw_text: str = ""
