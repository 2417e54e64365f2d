"""Each call as an OpenTelemetry span and two metrics, by the GenAI semantic conventions, built from
the ``llm.call`` event (which stays the contract; docs/events.md maps each field to its OTel name).

Nothing to configure: with the ``otel`` extra (opentelemetry-api) installed, spans go to whatever
tracer and meter providers the application set, and nowhere when it set none (the API's no-op
default). ``logging.otel: false`` turns it off. Without the package this module does nothing.
The span is recorded when the call ends, with the call's real start time (now minus its latency):
one place, after the event, sees every outcome, cached hits and refusals included.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from llmcfg.calls.hooks import CallHook

if TYPE_CHECKING:
    from llmcfg.calls.outcome import Call

__all__ = ["OPERATIONS", "PROVIDER_NAMES", "OtelHook", "record"]

# llmcfg's kinds → gen_ai.operation.name
OPERATIONS = {
    "chat": "chat",
    "vision": "chat",
    "ocr": "chat",
    "embed": "embeddings",
    "image": "generate_content",
}
# LiteLLM provider prefixes → gen_ai.provider.name well-known values (others are passed as they are).
PROVIDER_NAMES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}
_DURATION_BUCKETS_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = tuple(4.0**power for power in range(14))  # 1, 4, 16, ... 67108864


class _Instruments:
    def __init__(self, trace: Any, metrics: Any) -> None:
        self.trace, self.metrics = trace, metrics
        self.unset_tracers: tuple[type, ...] = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self.unset_meters: tuple[type, ...] = (metrics.NoOpMeterProvider,)
        try:  # the API's stand-in before a provider is set (not exported; without it: always record)
            from opentelemetry.metrics._internal import _ProxyMeterProvider

            self.unset_meters += (_ProxyMeterProvider,)
        except ImportError:  # pragma: no cover - another opentelemetry-api layout
            pass
        self.tracer = trace.get_tracer("llmcfg")
        meter = metrics.get_meter("llmcfg")
        try:
            self.tokens = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
            self.duration = meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS_S,
            )
        except TypeError:  # an opentelemetry-api older than the bucket advisory
            self.tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
            self.duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")

    def listening(self) -> bool:
        """Whether the application set a tracer or a meter provider. With neither, every span and
        metric would go to the API's no-op default: building them is skipped (tens of µs a call).
        Asked on each call: a provider set later (after the first call) is picked up."""
        return not isinstance(self.trace.get_tracer_provider(), self.unset_tracers) or not isinstance(
            self.metrics.get_meter_provider(), self.unset_meters
        )


@lru_cache(maxsize=1)
def _instruments() -> _Instruments | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    return _Instruments(trace, metrics)


def _split(model: str | None) -> tuple[str | None, str | None]:
    """``"openai/gpt-4o"`` → (``"openai"``, ``"gpt-4o"``)."""
    if not model:
        return None, None
    prefix, _, name = model.partition("/")
    return (prefix, name) if name else (None, prefix)


def attributes(fields: dict[str, Any], request_model: str | None = None) -> dict[str, Any]:
    """The span attributes of one ``llm.call`` event (OTel names, then llmcfg's own)."""
    prefix, response_model = _split(fields.get("model"))
    _, requested = _split(request_model) if request_model else (None, response_model)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": OPERATIONS.get(str(fields.get("kind")), str(fields.get("kind"))),
        "gen_ai.provider.name": PROVIDER_NAMES.get(prefix or "", prefix or "unknown"),
        "gen_ai.request.model": requested or "unknown",
        "llmcfg.kind": fields.get("kind"),
        "llmcfg.requested": fields.get("requested"),
        "llmcfg.status": fields.get("status"),
        "llmcfg.cached": bool(fields.get("cached")),
        "llmcfg.request_id": fields.get("request_id"),
    }
    if fields.get("status") == "ok":
        attrs["gen_ai.response.model"] = response_model
        attrs["gen_ai.usage.input_tokens"] = int(fields.get("tokens_in") or 0)
        attrs["gen_ai.usage.output_tokens"] = int(fields.get("tokens_out") or 0)
    if fields.get("error"):
        attrs["error.type"] = fields["error"]
    optional = {
        "llmcfg.alias": fields.get("alias"),
        "llmcfg.cost_usd": fields.get("cost_usd"),
        "llmcfg.cost_source": fields.get("cost_source"),
        "llmcfg.saved_usd": fields.get("saved_usd") or None,
        "llmcfg.fallbacks_tried": list(fields.get("fallbacks_tried") or ()) or None,
        "llmcfg.provider": fields.get("provider"),
    }
    attrs.update({key: value for key, value in optional.items() if value is not None})
    return {key: value for key, value in attrs.items() if value is not None}


def record(fields: dict[str, Any], request_model: str | None = None) -> None:
    """One span ``{operation} {model}`` and the two GenAI metrics for one ``llm.call`` event."""
    instruments = _instruments()
    if instruments is None or not instruments.listening():
        return
    attrs = attributes(fields, request_model)
    latency_s = float(fields.get("latency_ms") or 0.0) / 1000
    end = time.time_ns()
    name = f"{attrs['gen_ai.operation.name']} {attrs['gen_ai.request.model']}"
    trace = instruments.trace
    span = instruments.tracer.start_span(
        name, kind=trace.SpanKind.CLIENT, attributes=attrs, start_time=end - int(latency_s * 1e9)
    )
    if "error.type" in attrs:
        span.set_status(
            trace.Status(trace.StatusCode.ERROR, str(fields.get("error_message") or attrs["error.type"]))
        )
    span.end(end_time=end)
    common: dict[str, Any] = {
        key: attrs[key]
        for key in (
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "error.type",
        )
        if key in attrs
    }
    instruments.duration.record(latency_s, attributes=common)
    if fields.get("status") == "ok" and not fields.get("cached"):
        for token_type, count in (("input", fields.get("tokens_in")), ("output", fields.get("tokens_out"))):
            by_type: dict[str, Any] = {**common, "gen_ai.token.type": token_type}
            instruments.tokens.record(int(count or 0), attributes=by_type)


class OtelHook(CallHook):
    """The pipeline hook that records each finished call (``LLM`` adds it unless ``logging.otel``
    is false). The requested model comes from the call: after a fallback it differs from the event's."""

    def finished(self, call: Call | None, event: dict[str, Any]) -> None:
        record(event, call.info.litellm_model if call is not None else None)
