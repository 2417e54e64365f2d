"""The shape of ``llm_config.yaml``: pydantic models, every key documented, unknown keys refused.

Defaults live here, with units in their names (``_s`` seconds, ``_usd`` dollars, ``_mb`` megabytes).
Cross-references (aliases named in presets, fallback cycles, capabilities) are checked in
``llmcfg.config.validation``; this module only knows shapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

__all__ = [
    "QUALITIES",
    "BudgetConfig",
    "CacheConfig",
    "Config",
    "FetchConfig",
    "ImageCapsConfig",
    "LoggingConfig",
    "ModelAlias",
    "OcrConfig",
    "OcrMode",
    "Price",
    "ProviderConfig",
    "QualityPresets",
    "RateLimits",
    "RouterSettings",
    "WindowLimits",
]

_SIZE = re.compile(r"^\d+x\d+$")
Quality = Literal["fast", "balanced", "best"]
QUALITIES: tuple[Quality, ...] = ("fast", "balanced", "best")
Mode = Literal["chat", "embedding", "image_generation", "ocr"]
CallKind = Literal["chat", "vision", "ocr", "image", "embed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimits(_Strict):
    """Limits that make a call wait for room (up to ``router.queue_timeout_s``) instead of failing."""

    rpm: int | None = Field(None, ge=1, description="Requests per minute (sliding 60 s window).")
    tpm: int | None = Field(None, ge=1, description="Tokens per minute, prompt and answer.")
    max_parallel: int | None = Field(None, ge=1, description="Calls in flight at once.")


class ProviderConfig(_Strict):
    """Where and how to reach one provider. Its name is the prefix of model strings."""

    kind: str | None = Field(None, description="LiteLLM provider spoken; defaults to the provider's name.")
    api_key: str | list[str] | None = Field(
        None, description="${VAR}, ${VAR:-default} or os.environ/VAR; a list makes a load-balanced key pool."
    )
    api_base: str | None = Field(None, description="Endpoint URL, for self-hosted or proxied servers.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Extra LiteLLM parameters for every model of this provider."
    )
    key_limits: RateLimits | None = Field(
        None, description="Limits of each key, per model: an alias of this provider gets them times its keys."
    )


class Price(_Strict):
    """A negotiated or missing price; wins over LiteLLM's table."""

    input_per_mtok: float | None = Field(None, ge=0, description="USD per 1M input tokens.")
    output_per_mtok: float | None = Field(None, ge=0, description="USD per 1M output tokens.")
    per_image: float | dict[str, float] | None = Field(
        None,
        description="USD per generated image: one number, or a map keyed by size ('1024x1024') "
        "or quality/size ('hd/1792x1024').",
    )
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="USD per 1M input tokens read from the provider's prompt cache."
    )
    cache_write_per_mtok: float | None = Field(
        None,
        ge=0,
        description="USD per 1M input tokens written to the provider's prompt cache (Anthropic charges "
        "1.25x input for 5-minute caching). Default: the input price times LiteLLM's ratio for the model, "
        "else the input price.",
    )

    @field_validator("per_image")
    @classmethod
    def _image_prices(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        prices = value if isinstance(value, dict) else {"": value} if value is not None else {}
        for key, usd in prices.items():
            if usd < 0:
                raise ValueError(f"per_image{' ' + repr(key) if key else ''} must be >= 0, got {usd}")
            size = key.rpartition("/")[2]
            if key and not _SIZE.match(size):
                raise ValueError(
                    f"per_image key {key!r}: use a size like '1024x1024' or quality/size like 'hd/1792x1024'"
                )
        return value


class ImageCapsConfig(_Strict):
    """What an image model accepts, overriding llmcfg's table (``image_generation.IMAGE_MODELS``)."""

    sizes: list[str] | None = None
    max_n: int | None = Field(None, ge=1)
    qualities: list[str] | None = None
    styles: list[str] | None = None
    hd_quality: str | None = None
    default_quality: str | None = None


class ModelAlias(_Strict):
    """A name the application uses for one model of one provider."""

    model: str = Field(description='"<provider>/<model>", the provider being a key of `providers`.')
    params: dict[str, Any] = Field(
        default_factory=dict, description="Default call parameters (temperature, ...)."
    )
    price: Price | None = None
    mode: Mode | None = Field(None, description="What the model does; read from LiteLLM's table when absent.")
    vision: bool | None = Field(None, description="Accepts images; read from LiteLLM's table when absent.")
    context_window: int | None = Field(None, gt=0, description="Max input tokens, when the table lacks it.")
    image: ImageCapsConfig | None = Field(
        None, description="Image models: accepted sizes, n, qualities, styles."
    )
    cache_prompt: bool = Field(
        False,
        description="Mark the system prompt for provider prompt caching (Anthropic-style cache_control).",
    )
    limits: RateLimits | None = Field(
        None, description="rpm / tpm / max_parallel of this alias (all processes, with router.redis_url)."
    )

    @field_validator("model")
    @classmethod
    def _has_provider(cls, value: str) -> str:
        if "/" not in value or value.startswith("/") or value.endswith("/"):
            raise ValueError(f"{value!r} must be '<provider>/<model>', e.g. 'openai/gpt-4o-mini'")
        return value


class QualityPresets(_Strict):
    """Quality → alias for one kind of task."""

    fast: str | None = None
    balanced: str | None = None
    best: str | None = None


class Presets(_Strict):
    text: QualityPresets | None = None
    vision: QualityPresets | None = None
    image: QualityPresets | None = None
    embedding: QualityPresets | None = None


class RouterSettings(_Strict):
    """Retries, timeouts and cooldowns, handed to LiteLLM's Router."""

    num_retries: int = Field(2, ge=0, description="Retries per alias before falling back.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout, seconds.")
    cooldown_s: float = Field(
        30.0, ge=0, description="How long a failing deployment of a pool rests, seconds."
    )
    allowed_fails: int = Field(3, ge=0, description="Failures per minute before a deployment cools down.")
    fallback_on_content_policy: bool = Field(
        False, description="Let a content-policy refusal fall back like other failures (off: it is raised)."
    )
    redis_url: str | None = Field(
        None,
        description="Redis shared by every process (redis://[:password@]host:port/db, or ${VAR}): "
        "cooldowns, failure counts and rate limits then hold for the whole fleet.",
    )
    queue_timeout_s: float = Field(
        30.0,
        ge=0,
        description="How long a call over a rate limit waits for capacity, seconds (0: fail at once).",
    )


class LoggingConfig(_Strict):
    cost_log: str | None = Field(
        None, description="JSONL file of llm.call events; relative paths are relative to the config file."
    )
    otel: bool = Field(
        True,
        description="OpenTelemetry spans and metrics when the otel extra is installed and the app set a provider.",
    )
    events: Literal["auto", "structlog", "stderr", "off"] = Field(
        "auto",
        description=(
            "Where llm.call events go: auto (structlog when the app configured it, else stderr), structlog, "
            "stderr (the standard library logger 'llmcfg.events'; llmcfg writes to stderr itself when the app "
            "set up no logging handler), or off. Nothing is ever printed on stdout."
        ),
    )

    @field_validator("events", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` as false: that is what the user meant."""
        return "off" if value is False else value


class OcrMode(_Strict):
    """An OCR mode is a prompt plus the image resolution the model sees."""

    max_side: int = Field(gt=0, description="Longest image side sent, pixels.")
    detail: Literal["low", "high", "auto"] = "high"
    tile: int | None = Field(None, gt=0, description="Tile side, pixels: send a global view plus tiles.")
    prompt: str


class OcrConfig(_Strict):
    default_mode: str = "base"
    quality: Quality = Field("balanced", description="Which quality OCR uses unless the call says.")
    presets: QualityPresets | None = Field(
        None, description="OCR's own quality → alias (e.g. fast: local-ocr); missing ones use presets.vision."
    )
    modes: dict[str, OcrMode] = Field(default_factory=dict)
    fallback: list[str] = Field(
        default_factory=list, description="Aliases tried after the vision preset fails."
    )


class WindowLimits(_Strict):
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)


class BudgetConfig(_Strict):
    store: Literal["local", "redis"] = "local"
    redis_url: str | None = None
    timezone: str = "UTC"
    per_request_usd: float | None = Field(None, ge=0)
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)
    per_alias: dict[str, WindowLimits] = Field(default_factory=dict)
    per_kind: dict[CallKind, WindowLimits] = Field(default_factory=dict)
    on_exceed: Literal["block", "downgrade"] = "block"
    reservation_ttl_s: float = Field(
        900.0, gt=0, description="A reservation left by a crashed process stops counting after this, seconds."
    )
    unpriced: Literal["refuse", "allow"] = Field(
        "refuse",
        description="An alias with no known price: refused at load while budgets are set (refuse), or "
        "allowed and recorded with cost_source unknown, outside every limit (allow).",
    )
    assume_output_tokens: int | None = Field(
        4096,
        gt=0,
        description="Output tokens assumed for the worst-case estimate when neither the call nor the "
        "alias's params set max_tokens; null: the model's maximum output.",
    )

    @property
    def active(self) -> bool:
        """Any limit set: calls are then estimated, reserved and settled."""
        limits = (self.per_request_usd, self.daily_usd, self.monthly_usd)
        return any(value is not None for value in limits) or bool(self.per_alias or self.per_kind)


class CacheConfig(_Strict):
    enabled: bool = True
    dir: str = Field(
        ".llmcfg-cache", description="Cache folder; relative paths are relative to the config file."
    )
    image_ttl_s: int = Field(7 * 24 * 3600, ge=0, description="How long fetched images are kept, seconds.")
    response_ttl_s: int = Field(30 * 24 * 3600, ge=0, description="How long responses are kept, seconds.")
    text: bool = Field(False, description="Cache chat completions (embeddings and vision always are).")
    images_generated: bool = Field(False, description="Cache image generations (they are meant to vary).")
    store: Literal["disk", "redis"] = Field(
        "disk",
        description="disk: cache.dir on this machine; redis: shared by every process (cache.redis_url).",
    )
    redis_url: str | None = Field(None, description="Redis for store: redis (redis://... or ${VAR}).")

    @model_validator(mode="after")
    def _redis_has_url(self) -> CacheConfig:
        if self.store == "redis" and not self.redis_url:
            raise ValueError("store: redis needs redis_url (e.g. redis_url: ${REDIS_URL})")
        return self


class FetchConfig(_Strict):
    allowed_domains: list[str] = Field(default_factory=list, description="Empty: any public host.")
    allow_http: bool = False
    allow_private_networks: bool | list[str] = Field(
        False, description="true: any address; or a list of networks (CIDR) allowed besides public ones."
    )
    max_size_mb: float = Field(10.0, gt=0)
    timeout_s: float = Field(30.0, gt=0)
    max_redirects: int = Field(3, ge=0)
    max_pixels: int = Field(50_000_000, gt=0, description="Larger images are refused as decompression bombs.")
    local_files: bool = Field(
        True, description="false: a string is never read as a file path (pass a pathlib.Path for files)."
    )


class Config(_Strict):
    """The whole of ``llm_config.yaml``."""

    version: Literal[1] = 1
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelAlias] = Field(default_factory=dict)
    presets: Presets = Field(default_factory=Presets)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    fallbacks_on_context: dict[str, list[str]] = Field(
        default_factory=dict, description="alias → larger-context aliases tried when the prompt does not fit."
    )
    router: RouterSettings = Field(default_factory=RouterSettings)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    budgets: BudgetConfig = Field(default_factory=BudgetConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    _source: str | None = PrivateAttr(None)
    # What was done to this config after it was read (use_fake, isolated), to do again on a reload.
    _on_reload: Callable[[Config], Config] | None = PrivateAttr(None)

    @property
    def source(self) -> str | None:
        """The file this config was read from, if any."""
        return self._source

    def carried_to(self, new: Config) -> Config:
        """``new`` (this config's file, read again) with what was done to this config since it was
        read: a reload of an LLM made with ``use_fake`` must not quietly point at real providers."""
        return self._on_reload(new) if self._on_reload is not None else new

    def on_reload(self, step: Callable[[Config], Config]) -> Config:
        """This config, set to pass a reloaded config through the steps done so far, then ``step``."""
        before = self._on_reload
        self._on_reload = step if before is None else (lambda new: step(before(new)))
        return self

    def resolve_path(self, path: str) -> str:
        """``path`` made absolute against the config file's folder (or the working directory)."""
        base = os.path.dirname(os.path.abspath(self._source)) if self._source else os.getcwd()
        return os.path.join(base, os.path.expanduser(path))
