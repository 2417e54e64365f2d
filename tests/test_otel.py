"""OpenTelemetry GenAI conventions: each call is a span ``{operation} {model}`` with the gen_ai.*
attributes and llmcfg's cost and alias, plus the token-usage and duration metrics; collected with
the SDK's in-memory exporter and reader, as an application's provider would."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llmcfg import LLM, load_config
from llmcfg.exceptions import ProviderError
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC

_EXPORTER = InMemorySpanExporter()
_READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    """The application's providers (set once per process, as OTel allows)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _EXPORTER.clear()
    return _EXPORTER


def metric_points(name: str) -> list[Any]:
    data = _READER.get_metrics_data()
    if data is None:  # nothing recorded yet
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def make_llm(write_config: Any, fake: FakeProvider, extra: str = "") -> LLM:
    return LLM(use_fake(load_config(write_config(BASIC + extra)), fake))


def test_a_chat_is_one_client_span_with_genai_and_llmcfg_attributes(
    write_config: Any, fake: FakeProvider, spans: InMemorySpanExporter
) -> None:
    llm = make_llm(write_config, fake)
    fake.reply("hi", tokens_in=12, tokens_out=5)
    result = llm.chat("hello", model="mini")
    (span,) = spans.get_finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (12, 5)
    assert attrs["llmcfg.alias"] == "mini"
    assert attrs["llmcfg.cost_usd"] == pytest.approx(result.cost_usd)
    assert attrs["llmcfg.request_id"] == result.request_id
    assert "error.type" not in attrs
    assert span.end_time is not None
    assert span.start_time is not None
    assert (span.end_time - span.start_time) / 1e6 == pytest.approx(result.latency_ms, abs=5)


def test_a_fallback_keeps_the_requested_model_and_names_the_one_that_answered(
    write_config: Any, fake: FakeProvider, spans: InMemorySpanExporter
) -> None:
    llm = make_llm(write_config, fake)
    fake.fail(500, model="gpt-4o", times=None)
    fake.fail(500, model="meta-llama/llama-3.2-11b-vision-instruct", times=None)
    llm.chat("hello", model="gpt4o")
    (span,) = spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert list(attrs["llmcfg.fallbacks_tried"]) == ["gpt4o", "llama-vision"]


def test_an_error_sets_error_type_and_the_span_status(
    write_config: Any, fake: FakeProvider, spans: InMemorySpanExporter
) -> None:
    llm = make_llm(write_config, fake)
    fake.fail(429, model="gpt-4o-mini", times=None)
    with pytest.raises(ProviderError):
        llm.chat("hello", model="mini")
    (span,) = spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "RateLimitError"
    assert span.status.status_code is StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in attrs


def test_token_usage_and_duration_metrics(write_config: Any, fake: FakeProvider) -> None:
    llm = make_llm(write_config, fake)

    def totals() -> dict[str, float]:
        found: dict[str, float] = {}
        for point in metric_points("gen_ai.client.token.usage"):
            kind = point.attributes["gen_ai.token.type"]
            found[kind] = found.get(kind, 0) + point.sum
        return found

    before = totals()
    fake.reply("hi", tokens_in=30, tokens_out=7, times=1)
    llm.chat("hello", model="mini")
    after = totals()
    assert after["input"] - before.get("input", 0) == 30
    assert after["output"] - before.get("output", 0) == 7
    durations = metric_points("gen_ai.client.operation.duration")
    assert durations
    assert all(p.attributes["gen_ai.operation.name"] for p in durations)


def test_logging_otel_false_turns_it_off(
    write_config: Any, fake: FakeProvider, spans: InMemorySpanExporter
) -> None:
    llm = LLM(
        use_fake(load_config(write_config(BASIC.replace("logging: {", "logging: {otel: false, "))), fake)
    )
    llm.chat("hello", model="mini")
    assert spans.get_finished_spans() == ()


_LATE_PROVIDER = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake

with FakeProvider() as fake:
    llm = LLM(use_fake(load_config(sys.argv[1]), fake))
    llm.chat("before any provider", model="mini")  # nobody listens: nothing is built
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    llm.chat("after", model="mini")
    print(len(exporter.get_finished_spans()))
"""


def test_a_provider_set_after_the_first_call_still_gets_spans(write_config: Any, tmp_path: Any) -> None:
    """Spans are skipped while no provider is set (a per-call saving), never for good: an application
    that sets its provider after a first call (a worker's warm-up) still gets every later span."""
    import subprocess
    import sys

    config = write_config(BASIC)
    script = tmp_path / "late.py"
    script.write_text(_LATE_PROVIDER)
    done = subprocess.run(
        [sys.executable, str(script), str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
