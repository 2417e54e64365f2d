"""One YAML, the same application code, the alias switched between five provider forms.

Each cell runs through the real LiteLLM over real HTTP to FakeProvider, which answers in that
provider's own wire format. A cell passes only if the request really reached the fake as that
provider (``fake.requests[-1].provider``), in that provider's format (the image as Anthropic's
``source`` block, Gemini's ``inline_data`` ...), with no fallback tried: a silent fallback to another
alias fails the cell. Costs are recomputed here from LiteLLM's price file x the usage the fake
reported, cached input at its own rate.
"""

from __future__ import annotations

import base64
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel
from structlog.testing import capture_logs

from llmcfg import LLM, load_config
from llmcfg.money.prices import price_table
from llmcfg.results import CallResult
from llmcfg.testing import FakeProvider, RecordedRequest, use_fake


@dataclass(frozen=True)
class Cell:
    name: str
    model: str  # the alias's model: the only line of the YAML that changes
    wire: str  # the wire format the fake must have been spoken to in
    table_key: str | None  # LiteLLM's price-table key; None: priced otherwise
    embedder: str | None  # the embedding model of this provider, if it has embeddings
    extra: str = ""  # what else the alias must declare (a price for a server nobody lists)


CELLS = [
    Cell("openai", "openai/gpt-4o-mini", "openai", "gpt-4o-mini", "openai/text-embedding-3-small"),
    Cell("anthropic", "anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None),
    Cell(
        "gemini",
        "gemini/gemini-2.5-flash",
        "gemini",
        "gemini/gemini-2.5-flash",
        "gemini/gemini-embedding-001",
    ),
    Cell("openrouter", "openrouter/openai/gpt-4o-mini", "openai", None, None, ", vision: true"),
    Cell(
        "local",
        "local/my-model",
        "openai",
        None,
        "local/my-embedder",
        ", vision: true, price: {input_per_mtok: 0.5, output_per_mtok: 1.5, cached_input_per_mtok: 0.25}",
    ),
]

YAML = """
version: 1
providers:
  openai: {{api_key: "${{OPENAI_API_KEY}}"}}
  anthropic: {{api_key: "${{ANTHROPIC_API_KEY}}"}}
  gemini: {{api_key: "${{GEMINI_API_KEY}}"}}
  openrouter: {{api_key: "${{OPENROUTER_API_KEY}}"}}
  local: {{kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${{LOCAL_KEY:-none}}"}}
models:
  assistant: {{model: {model}, params: {{max_tokens: 1024}}{extra}}}
  embedder: {{model: {embedder}{embed_extra}}}
  spare: {{model: openai/gpt-4o-mini}}
fallbacks:
  assistant: [spare]
router: {{num_retries: 0, timeout_s: 10, cooldown_s: 0, allowed_fails: 100}}
"""

TOKENS_IN, CACHED, TOKENS_OUT = 1000, 400, 50
PROVIDER_COST = 0.00123  # what OpenRouter reports in usage.cost


@pytest.fixture(params=CELLS, ids=[c.name for c in CELLS])
def cell(request: pytest.FixtureRequest) -> Cell:
    cell: Cell = request.param
    return cell


@pytest.fixture
def app(cell: Cell, fake: FakeProvider, tmp_path: Path) -> LLM:
    embedder = cell.embedder or "openai/text-embedding-3-small"
    embed_extra = ", mode: embedding, price: {input_per_mtok: 0.02}" if embedder.startswith("local/") else ""
    text = YAML.format(model=cell.model, extra=cell.extra, embedder=embedder, embed_extra=embed_extra)
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(text))
    return LLM(use_fake(load_config(path), fake))


def _reached(fake: FakeProvider, cell: Cell, result: CallResult) -> RecordedRequest:
    """The cell's own provider answered, in its own wire format, with nothing tried before."""
    assert result.fallbacks_tried == ()
    assert result.alias in ("assistant", "embedder")
    sent = fake.requests[-1]
    assert sent.provider == cell.wire
    assert {r.provider for r in fake.requests} == {cell.wire}
    return sent


def _expected_cost(cell: Cell) -> tuple[float, str]:
    """LiteLLM's table x the usage the fake reported (cached input at the cache-read rate)."""
    if cell.name == "openrouter":
        return PROVIDER_COST, "provider"
    if cell.table_key is None:  # the alias's own price
        return (TOKENS_IN - CACHED) * 0.5e-6 + CACHED * 0.25e-6 + TOKENS_OUT * 1.5e-6, "override"
    entry = price_table()[cell.table_key]
    usd = (
        (TOKENS_IN - CACHED) * entry["input_cost_per_token"]
        + CACHED * entry["cache_read_input_token_cost"]
        + TOKENS_OUT * entry["output_cost_per_token"]
    )
    return usd, "table"


def _script_usage(fake: FakeProvider, text: str = "Paris is the capital", **extra: Any) -> None:
    fake.reply(
        text, tokens_in=TOKENS_IN, cached_tokens=CACHED, tokens_out=TOKENS_OUT, cost=PROVIDER_COST, **extra
    )


def test_chat(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    _script_usage(fake)
    result = app.chat("Capital of France?", model="assistant", system="Be brief.")
    assert result.text == "Paris is the capital"
    sent = _reached(fake, cell, result)
    assert (result.tokens_in, result.tokens_out, result.cached_tokens) == (TOKENS_IN, TOKENS_OUT, CACHED)
    usd, source = _expected_cost(cell)
    assert (result.cost_usd, result.cost_source) == (pytest.approx(usd, rel=1e-9), source)
    if cell.wire == "anthropic":
        assert sent.body["max_tokens"] == 1024
        assert "Be brief." in json.dumps(sent.body["system"])
    if cell.wire == "gemini":
        assert "Be brief." in json.dumps(
            sent.body.get("system_instruction", sent.body.get("systemInstruction"))
        )


def test_stream(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    _script_usage(fake)
    stream = app.stream("Capital of France?", model="assistant")
    assert "".join(stream) == "Paris is the capital"
    result = stream.result
    assert result is not None
    sent = _reached(fake, cell, result)
    assert sent.stream
    assert (result.tokens_in, result.tokens_out) == (TOKENS_IN, TOKENS_OUT)
    usd, source = _expected_cost(cell)
    assert (result.cost_usd, result.cost_source) == (pytest.approx(usd, rel=1e-9), source)


def _png() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(picture, format="PNG")
    return picture.getvalue()


def _image_sent(cell: Cell, sent: RecordedRequest) -> bytes:
    """The image bytes, found where THIS provider's format puts them."""
    parts = sent.messages[-1]["parts" if cell.wire == "gemini" else "content"]
    if cell.wire == "anthropic":
        (block,) = [p for p in parts if p.get("type") == "image"]
        assert (block["source"]["type"], block["source"]["media_type"]) == ("base64", "image/png")
        return base64.b64decode(block["source"]["data"])
    if cell.wire == "gemini":
        (part,) = [p for p in parts if "inline_data" in p or "inlineData" in p]
        inline = part.get("inline_data") or part["inlineData"]
        assert inline.get("mime_type", inline.get("mimeType")) == "image/png"
        return base64.b64decode(inline["data"])
    (item,) = [p for p in parts if p.get("type") == "image_url"]
    head, data = item["image_url"]["url"].split(",", 1)
    assert head == "data:image/png;base64"
    return base64.b64decode(data)


def test_vision(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    fake.reply("A red rectangle.")
    result = app.vision(_png(), "What is it?", model="assistant")
    assert result.text == "A red rectangle."
    sent = _reached(fake, cell, result)
    with Image.open(io.BytesIO(_image_sent(cell, sent))) as seen:
        assert (seen.size, seen.convert("RGB").getpixel((0, 0))) == ((64, 48), (255, 0, 0))


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _tool_names(cell: Cell, sent: RecordedRequest) -> list[str]:
    tools = sent.body["tools"]
    if cell.wire == "anthropic":
        return [t["name"] for t in tools]
    if cell.wire == "gemini":
        return [
            f["name"]
            for t in tools
            for f in t.get("function_declarations", t.get("functionDeclarations", []))
        ]
    return [t["function"]["name"] for t in tools]


def test_tools(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    fake.reply("", tool_calls=[call])
    result = app.chat("Weather in Oslo?", model="assistant", tools=[WEATHER_TOOL])
    sent = _reached(fake, cell, result)
    assert _tool_names(cell, sent) == ["weather"]
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("weather", {"city": "Oslo"})]


class Capital(BaseModel):
    country: str
    city: str


def test_extract(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    fake.reply('{"country": "France", "city": "Paris"}')
    result = app.extract_result("Capital of France?", Capital, model="assistant")
    assert result.value == Capital(country="France", city="Paris")
    assert result.attempts == 1
    _reached(fake, cell, result)


def test_embeddings(app: LLM, fake: FakeProvider, cell: Cell) -> None:
    if cell.embedder is None:
        pytest.skip(f"{cell.name} has no embeddings API")
    result = app.embed(["first text here", "second"], model="embedder")
    _reached(fake, cell, result)
    assert len(result.vectors) == 2
    assert result.vectors[0] != result.vectors[1]
    if cell.name == "local":
        assert (result.cost_usd, result.cost_source) == (
            pytest.approx(result.tokens_in * 0.02e-6),
            "override",
        )
    else:
        key = cell.embedder.replace("openai/", "")
        rate = price_table()[key]["input_cost_per_token"]
        assert result.tokens_in > 0
        assert (result.cost_usd, result.cost_source) == (pytest.approx(result.tokens_in * rate), "table")


def test_anthropic_cache_writes_cost_their_own_rate(fake: FakeProvider, tmp_path: Path) -> None:
    """Tokens written to Anthropic's prompt cache cost more than plain input (1.25x)."""
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        'version: 1\nproviders: {anthropic: {api_key: "${ANTHROPIC_API_KEY}"}}\n'
        "models: {claude: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 1024}}}\n"
        "router: {num_retries: 0}\n"
    )
    fake.reply("ok", tokens_in=TOKENS_IN, cache_creation_tokens=CACHED, tokens_out=TOKENS_OUT)
    result = LLM(use_fake(load_config(path), fake)).chat("hi", model="claude")
    entry = price_table()["claude-sonnet-4-5"]
    expected = (
        (TOKENS_IN - CACHED) * entry["input_cost_per_token"]
        + CACHED * entry["cache_creation_input_token_cost"]
        + TOKENS_OUT * entry["output_cost_per_token"]
    )
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected, rel=1e-9), "table")
    assert fake.requests[-1].body["messages"][0]["content"][0]["text"] == "hi"


_CLAUDE = (
    'version: 1\nproviders: {{anthropic: {{api_key: "${{ANTHROPIC_API_KEY}}"}}}}\n'
    "models: {{claude: {{model: anthropic/claude-sonnet-4-5, params: {{max_tokens: 1024}}{price}}}}}\n"
    "router: {{num_retries: 0}}\n"
)


@pytest.mark.parametrize(
    ("price", "rates"),
    [
        ("", None),  # LiteLLM's table: its read and write rates
        (  # the alias's own rates, each given
            ", price: {input_per_mtok: 2, output_per_mtok: 10, cached_input_per_mtok: 0.2, cache_write_per_mtok: 3}",
            (2e-6, 0.2e-6, 3e-6, 10e-6),
        ),
        (  # the alias's own input price; its write rate scaled as the table scales the model's (1.25x)
            ", price: {input_per_mtok: 2, output_per_mtok: 10, cached_input_per_mtok: 0.2}",
            (2e-6, 0.2e-6, 2e-6 * 1.25, 10e-6),
        ),
    ],
    ids=["table", "own-write-price", "own-input-price"],
)
def test_a_call_that_reads_and_writes_the_prompt_cache_prices_each_part(
    fake: FakeProvider, tmp_path: Path, price: str, rates: tuple[float, float, float, float] | None
) -> None:
    """One Anthropic call both reads (cache hit) and writes (new breakpoint) the prompt cache: fresh
    input, read and written tokens each at their own rate. Written tokens at the plain input rate
    undercharged them by a fifth; the event and the result carry the written count."""
    path = tmp_path / "llm_config.yaml"
    path.write_text(_CLAUDE.format(price=price))
    llm = LLM(use_fake(load_config(path), fake))
    fake.reply("ok", tokens_in=5000, cached_tokens=3000, cache_creation_tokens=1500, tokens_out=40)
    with capture_logs() as events:
        result = llm.chat("hi", model="claude")
    if rates is None:
        entry = price_table()["claude-sonnet-4-5"]
        rates = (
            entry["input_cost_per_token"],
            entry["cache_read_input_token_cost"],
            entry["cache_creation_input_token_cost"],
            entry["output_cost_per_token"],
        )
        assert rates[2] == pytest.approx(1.25 * rates[0])  # what the own-input-price case relies on
    fresh, read, write, output = rates
    expected = 500 * fresh + 3000 * read + 1500 * write + 40 * output
    assert result.cost_usd == pytest.approx(expected, rel=1e-9)
    assert (result.tokens_in, result.cached_tokens, result.cache_write_tokens) == (5000, 3000, 1500)
    [event] = [e for e in events if e["event"] == "llm.call"]
    assert (event["cached_tokens"], event["cache_write_tokens"]) == (3000, 1500)


def test_gemini_prompt_caching_through_cached_contents(fake: FakeProvider, tmp_path: Path) -> None:
    """cache_prompt on a gemini alias: LiteLLM stores the long system prompt as a cachedContents
    resource, later calls refer to it, and its tokens are priced at the cache-read rate."""
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        'version: 1\nproviders: {gemini: {api_key: "${GEMINI_API_KEY}"}}\n'
        "models: {flash: {model: gemini/gemini-2.5-flash, cache_prompt: true}}\n"
        "router: {num_retries: 0}\n"
    )
    llm = LLM(use_fake(load_config(path), fake))
    system = " ".join(f"rule{i}" for i in range(5000))  # above Gemini's minimum for caching
    fake.reply("ok", tokens_out=2)
    result = llm.chat("first question", model="flash", system=system)
    created = [r for r in fake.requests if r.endpoint == "cache"]
    assert len(created) == 1
    assert created[0].path == "/v1beta/cachedContents"
    sent = fake.requests[-1]
    assert sent.body["cachedContent"] == fake.gemini_caches[0]["name"]
    assert "rule4999" not in json.dumps(sent.body)  # the long prompt travels once, in the cache
    cached = fake.gemini_caches[0]["usageMetadata"]["totalTokenCount"]
    assert result.cached_tokens == cached
    entry = price_table()["gemini/gemini-2.5-flash"]
    fresh = result.tokens_in - cached
    expected = (
        fresh * entry["input_cost_per_token"]
        + cached * entry["cache_read_input_token_cost"]
        + 2 * entry["output_cost_per_token"]
    )
    assert result.cost_usd == pytest.approx(expected, rel=1e-9)
    llm.chat("second question", model="flash", system=system)
    assert len([r for r in fake.requests if r.endpoint == "cache"]) == 1  # found, not created again
