"""``llmcfg costs``: the report's totals equal the sum of the events; corrupt lines are counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.cli.main import main
from llmcfg.money.report import parse_since, report_file
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC


@pytest.fixture
def log(write_config: Any, fake: FakeProvider) -> Path:
    """A real cost log: chats, a cache hit, an error, then a corrupt line and a foreign event."""
    llm = LLM(use_fake(load_config(write_config(BASIC + "cache: {dir: cache}\n")), fake, isolate=False))
    fake.reply("x", tokens_in=100, tokens_out=10, times=3)  # a, b and c reach the provider
    llm.chat("a", model="mini")
    llm.chat("b", model="mini", cache=True)
    llm.chat("b", model="mini", cache=True)
    llm.chat("c", model="house")
    fake.fail(400, times=None)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any provider error: it is the event that counts
        llm.chat("d", model="mini")
    assert llm.config.source is not None
    path = Path(llm.config.source).parent / "costs.jsonl"
    with path.open("a") as handle:
        handle.write('{"event": "llm.call", "cost_usd": \n')  # a torn line
        handle.write(json.dumps({"event": "other"}) + "\n")
    return path


def test_totals_equal_the_sum_of_the_events(log: Path) -> None:
    events = [json.loads(line) for line in log.read_text().splitlines()[:-2]]
    result = report_file(log, by="alias")
    assert result.total.requests == len(events) == 5
    assert result.total.cost_usd == pytest.approx(sum(e["cost_usd"] or 0 for e in events))
    assert result.total.tokens_in == sum(e["tokens_in"] for e in events)
    assert result.total.errors == 1
    assert result.total.cache_hits == 1
    assert result.corrupt == 1
    assert set(result.rows) == {"mini", "house"}
    assert result.rows["house"].cost_usd == pytest.approx(100 * 0.5e-6 + 10 * 1.5e-6)


def test_since_and_grouping(log: Path) -> None:
    assert report_file(log, since=parse_since("1h")).total.requests == 5
    assert report_file(log, since=parse_since("2999-01-01")).total.requests == 0
    assert set(report_file(log, by="kind").rows) == {"chat"}
    assert len(report_file(log, by="day").rows) == 1
    assert parse_since("2d", now=1_000_000.0) == 1_000_000.0 - 2 * 86400
    with pytest.raises(ValueError, match="use 7d"):
        parse_since("last week")


def test_cli_json_and_table(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", "--log", str(log), "--json", "--by", "model"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["requests"] == 5
    assert data["corrupt_lines"] == 1
    assert main(["costs", "--log", str(log)]) == 0
    table = capsys.readouterr().out
    assert "openai/gpt-4o-mini" in table
    assert "1 corrupt lines skipped" in table
    assert main(["costs", "--log", str(log), "--since", "yesterday-ish"]) == 2


def test_costs_reads_the_configured_log_without_litellm(log: Path) -> None:
    import subprocess
    import sys

    config = log.parent / "llm_config.yaml"
    code = f"import sys\nfrom llmcfg.cli.main import main\nassert main(['costs', '--config', {str(config)!r}]) == 0\nassert 'litellm' not in sys.modules\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "total" in done.stdout


# -- unknown is never $0 ------------------------------------------------------------------------
def _line(**fields: Any) -> str:
    event = {"event": "llm.call", "ts": 1_795_000_000, "kind": "chat", "status": "ok", "cached": False}
    return json.dumps({**event, **fields}) + "\n"


def test_unknown_costs_are_counted_and_shown_as_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "costs.jsonl"
    log.write_text(
        _line(
            alias="mini",
            model="m",
            tokens_in=10,
            tokens_out=5,
            cost_usd=0.5,
            cached_tokens=4,
            reasoning_tokens=2,
        )
        + _line(alias="odd", model="o", tokens_in=10, tokens_out=5, cost_usd=None, cost_source="unknown")
        + _line(alias="odd", model="o", tokens_in=10, tokens_out=5, cost_usd=None, cost_source="unknown")
        + _line(alias="odd", model="o", status="error", cost_usd=0.0)
    )
    result = report_file(log, by="alias")
    assert (result.total.cost_usd, result.total.unpriced) == (0.5, 2)
    assert result.total.average_cost_usd is None  # an average over unknowns would lie
    assert (result.rows["mini"].cached_tokens, result.rows["mini"].reasoning_tokens) == (4, 2)
    assert result.rows["odd"].unpriced == 2
    assert main(["costs", "--log", str(log), "--by", "alias"]) == 0
    table = capsys.readouterr().out
    assert "$0.5000 + ? (2 unpriced)" in table  # the total
    assert "? (2 unpriced)" in table.split("odd", 1)[1].splitlines()[0]  # the odd row: unknown, not $0
    assert "$0.0000" not in table
    assert "cached in" in table
    assert "reasoning" in table
    assert main(["costs", "--log", str(log), "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    assert (total["unpriced"], total["cost_complete"]) == (2, False)


def test_each_event_is_counted_once_across_blocks_and_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small blocks and forced parallel ranges: the line that straddles a block or range boundary
    must be read exactly once."""
    from llmcfg.money import logscan

    log = tmp_path / "costs.jsonl"
    with log.open("w") as handle:
        for index in range(3000):
            handle.write(
                _line(alias=f"a{index % 3}", model="m", tokens_in=index, tokens_out=1, cost_usd=0.001)
            )
        handle.write('{"event": "llm.call", "cost_usd": \n')  # torn
        handle.write(json.dumps({"event": "other"}) + "\n")
        handle.write(_line(alias="a0", model="m", tokens_in="7", cost_usd=0.001))  # a string count
    monkeypatch.setattr(logscan, "_BLOCK", 997)
    for parallel_above in (1 << 40, 1):  # one process, then forked ranges
        monkeypatch.setattr(logscan, "_PARALLEL_ABOVE", parallel_above)
        result = report_file(log, by="alias")
        assert result.total.requests == 3001
        assert result.total.tokens_in == sum(range(3000)) + 7
        assert result.corrupt == 1
        assert result.total.cost_usd == pytest.approx(3.001)


# -- what the price of a call is: provider > alias price > table (models the table DOES price) ---------
PRECEDENCE = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}", api_base: "BASE"}
  openrouter: {api_key: "${OPENROUTER_API_KEY:-k}", api_base: "BASE"}
models:
  table: {model: openai/gpt-4o-mini}
  override: {model: openai/gpt-4o-mini, price: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  reported: {model: openrouter/openai/gpt-4o-mini, price: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
router: {num_retries: 0}
"""


def test_cost_precedence_provider_then_alias_price_then_table(tmp_path: Path, fake: FakeProvider) -> None:
    from llmcfg.config.aliases import describe

    path = tmp_path / "llm_config.yaml"
    path.write_text(PRECEDENCE.replace("BASE", fake.base_url))
    llm = LLM(load_config(path))
    assert describe(llm.config, "reported").price_source == "override"
    assert describe(load_config(path), "table").price_source == "table"  # the table does price it
    fake.reply("x", tokens_in=1000, tokens_out=100, times=2)
    table = llm.chat("a", model="table")
    assert (table.cost_source, table.cost_usd) == ("table", pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6))
    override = llm.chat("a", model="override")  # the alias's price beats the table's
    assert (override.cost_source, override.cost_usd) == ("override", pytest.approx(1000 * 1e-6 + 100 * 2e-6))
    fake.reply("x", tokens_in=1000, tokens_out=100, cost=0.0123)
    reported = llm.chat("a", model="reported")  # what the provider reported beats both
    assert (reported.cost_source, reported.cost_usd) == ("provider", pytest.approx(0.0123))


# -- image prices: size x quality ------------------------------------------------------------------------
IMAGES = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
models:
  dalle3: {model: openai/dall-e-3}
  dalle2: {model: openai/dall-e-2}
  flat: {model: openai/dall-e-3, price: {per_image: 0.05}}
  mapped: {model: openai/dall-e-3, price: {per_image: {"hd/1792x1024": 0.2, "1024x1024": 0.03}}}
"""


@pytest.mark.parametrize(
    ("alias", "size", "quality", "usd", "source"),
    [
        ("dalle3", "1024x1024", "standard", 0.04, "table"),
        ("dalle3", "1024x1792", "standard", 0.08, "table"),
        ("dalle3", "1792x1024", "standard", 0.08, "table"),
        ("dalle3", "1024x1024", "hd", 0.08, "table"),
        ("dalle3", "1792x1024", "hd", 0.12, "table"),
        ("dalle3", "1024x1792", "hd", 0.12, "table"),
        ("dalle2", "256x256", "standard", 0.016, "table"),
        ("dalle2", "512x512", None, 0.018, "table"),
        ("dalle2", "1024x1024", "standard", 0.02, "table"),
        ("flat", "1792x1024", "hd", 0.05, "override"),
        ("mapped", "1792x1024", "hd", 0.2, "override"),
        ("mapped", "1024x1024", "hd", 0.03, "override"),  # a size key covers every quality
        ("mapped", "1024x1792", "hd", 0.12, "table"),  # not in the map: the list price
    ],
)
def test_image_list_prices_by_size_and_quality(
    write_config: Any, alias: str, size: str, quality: str | None, usd: float, source: str
) -> None:
    from llmcfg.config.aliases import describe
    from llmcfg.money.cost import image_cost

    info = describe(load_config(write_config(IMAGES)), alias)
    cost = image_cost(info, size, quality, 2, None, None)
    assert (cost.usd, cost.source) == (pytest.approx(2 * usd), source)


def test_per_image_map_keys_are_checked(write_config: Any) -> None:
    from llmcfg.exceptions import ConfigError

    with pytest.raises(ConfigError, match="quality/size"):
        load_config(
            write_config(IMAGES + '  bad: {model: openai/dall-e-3, price: {per_image: {"huge": 1}}}\n')
        )


# -- llmcfg costs --what-if -----------------------------------------------------------------------------
OTHER = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
  anthropic: {api_key: "${ANTHROPIC_API_KEY:-k}"}
  house: {kind: openai, api_base: "http://127.0.0.1:9/v1", api_key: "${HOUSE_KEY:-k}"}
models:
  mini: {model: openai/gpt-4o-mini, price: {input_per_mtok: 1.0, output_per_mtok: 10.0, cached_input_per_mtok: 0.5}}
  claude: {model: anthropic/claude-sonnet-4-5}
  mystery: {model: house/unpriced-model}
  dalle3: {model: openai/dall-e-3}
presets:
  text: {fast: mini, balanced: claude, best: mystery}
"""


def test_what_if_replays_token_counts_under_the_other_prices(
    tmp_path: Path, write_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmcfg.money.whatif import what_if

    log = tmp_path / "costs.jsonl"
    log.write_text(
        _line(
            alias="mini", requested="mini", tokens_in=1000, cached_tokens=400, tokens_out=100, cost_usd=0.01
        )
        + _line(alias="mini", requested="text/balanced", tokens_in=2000, tokens_out=10, cost_usd=0.02)
        + _line(alias="gpt4o", requested="text/best", tokens_in=5, tokens_out=5, cost_usd=0.03)  # -> mystery
        + _line(alias="gone", requested="gone", tokens_in=5, tokens_out=5, cost_usd=0.04)  # no counterpart
        + _line(alias="mini", requested="mini", status="error", cost_usd=0.0)  # nothing bought
        + _line(
            alias="img",
            requested="image/fast",
            kind="image",
            images=2,
            size="1792x1024",
            quality="hd",
            cost_usd=0.08,
        )
        + _line(
            alias="img", requested="img", kind="image", images=1, size="1792x1024", quality="hd", cost_usd=0.0
        )
    )
    other = load_config(write_config(OTHER.replace("presets:\n", "presets:\n  image: {fast: dalle3}\n")))
    result = what_if(log, other)
    mini = result.rows[("mini", "mini", "chat")]
    assert mini.calls == 1
    assert mini.what_if_usd == pytest.approx(
        600 * 1e-6 + 400 * 0.5e-6 + 100 * 10e-6
    )  # cached input priced apart
    assert mini.difference_usd == pytest.approx(mini.what_if_usd - 0.01)
    claude = result.rows[("mini", "claude", "chat")]  # "balanced" is Claude over there
    assert claude.what_if_usd == pytest.approx(2000 * 3e-6 + 10 * 15e-6)
    assert result.rows[("img", "dalle3", "image")].what_if_usd == pytest.approx(
        2 * 0.12
    )  # hd 1792x1024 list price
    assert result.no_price == {"mystery": 1}
    assert result.no_counterpart == {"gone": 1, "img": 1}
    assert result.skipped_recorded_usd == pytest.approx(0.07)
    other_path = tmp_path / "llm_config.yaml"
    assert main(["costs", "--log", str(log), "--what-if", str(other_path)]) == 0
    printed = capsys.readouterr().out
    assert "claude" in printed
    assert "difference" in printed
    assert "mystery (1 calls): no known price" in printed
    assert "gone (1 calls): no counterpart" in printed


def test_what_if_prices_prompt_cache_reads_and_writes_apart(tmp_path: Path, write_config: Any) -> None:
    """A call that read 1,000 and wrote 500 of its 2,000 input tokens, replayed on Claude: each part
    at its own rate (written tokens at the plain input rate would undercharge them by a fifth)."""
    from llmcfg.money.prices import price_table
    from llmcfg.money.whatif import what_if

    log = tmp_path / "costs.jsonl"
    log.write_text(
        _line(
            alias="mini",
            requested="text/balanced",
            tokens_in=2000,
            cached_tokens=1000,
            cache_write_tokens=500,
            tokens_out=10,
            cost_usd=0.02,
        )
    )
    result = what_if(log, load_config(write_config(OTHER)))
    entry = price_table()["claude-sonnet-4-5"]
    expected = (
        500 * entry["input_cost_per_token"]
        + 1000 * entry["cache_read_input_token_cost"]
        + 500 * entry["cache_creation_input_token_cost"]
        + 10 * entry["output_cost_per_token"]
    )
    assert result.rows[("mini", "claude", "chat")].what_if_usd == pytest.approx(expected, rel=1e-9)


def test_the_documented_what_if_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/budgets.md shows `llmcfg costs --what-if claude.yaml`: the same log gives the same table."""
    root = Path(__file__).resolve().parent.parent
    shipped = (root / "llm_config.yaml").read_text()
    claude = shipped.replace(
        "text:      {fast: mini, balanced: mini, best: gpt4o}",
        "text: {fast: mini, balanced: claude, best: gpt4o}",
    )
    claude = claude.replace(
        "  mini:  ", "  claude: {model: anthropic/claude-sonnet-4-5, params: {max_tokens: 1024}}\n  mini:  "
    )
    claude = claude.replace("  openai:  ", '  anthropic: {api_key: "${ANTHROPIC_API_KEY}"}\n  openai:  ')
    assert "balanced: claude" in claude
    (tmp_path / "claude.yaml").write_text(claude)
    log = tmp_path / "llm_costs.jsonl"
    log.write_text(
        _line(alias="mini", requested="text/balanced", tokens_in=1000, tokens_out=1100, cost_usd=0.0006) * 2
        + _line(alias="mini", requested="mini", tokens_in=1000, tokens_out=100, cost_usd=0.00021)
        + _line(alias="old-alias", requested="old-alias", tokens_in=10, tokens_out=10, cost_usd=0.0004)
    )
    assert main(["costs", "--log", str(log), "--what-if", str(tmp_path / "claude.yaml")]) == 0
    printed = capsys.readouterr().out.replace(str(tmp_path / "claude.yaml"), "claude.yaml")
    doc = (root / "docs" / "budgets.md").read_text().split("$ llmcfg costs --what-if claude.yaml\n", 1)[1]
    shown = doc.split("```", 1)[0].splitlines()[1:]  # the table and the note, without the title line
    assert shown
    for line in shown:
        assert line.rstrip() in printed, line


def _reference(events: list[dict[str, Any]]) -> dict[str, float]:
    """The totals the report must give, summed the plain way (nulls count as nothing)."""
    fields = (
        "tokens_in",
        "tokens_out",
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "images",
        "cost_usd",
        "saved_usd",
    )
    totals: dict[str, float] = {name: sum(e.get(name) or 0 for e in events) for name in fields}
    totals["requests"] = len(events)
    totals["cache_hits"] = sum(bool(e.get("cached")) for e in events)
    totals["errors"] = sum(e.get("status") == "error" for e in events)
    totals["blocked"] = sum(e.get("status") == "blocked" for e in events)
    totals["unpriced"] = sum(e.get("cost_usd") is None and e.get("status") == "ok" for e in events)
    return totals


@pytest.mark.parametrize("null_field", [None, "tokens_in", "images", "cost_usd", "saved_usd"])
def test_every_field_of_every_event_is_added_once(tmp_path: Path, null_field: str | None) -> None:
    """Each summed field, count and status is checked against a plain sum, per group and in total,
    with one group holding a null where a number belongs (a hand-edited line, an unknown cost), so
    the fast path and the null-tolerant one are both held to the same answer."""
    import random

    rng = random.Random(11)
    events = []
    for index in range(3000):
        event: dict[str, Any] = {
            "event": "llm.call",
            "ts": 1_795_000_000 + index,
            "model": rng.choice(["m1", "m2", "m3"]),
            "tokens_in": rng.randint(0, 900),
            "tokens_out": rng.randint(0, 300),
            "cached_tokens": rng.randint(0, 50),
            "cache_write_tokens": rng.randint(0, 40),
            "reasoning_tokens": rng.randint(0, 70),
            "images": rng.randint(0, 3),
            "cost_usd": rng.randint(1, 1000) / 1e6,
            "saved_usd": rng.randint(0, 5) / 1e6,
            "cached": rng.random() < 0.3,
            "status": rng.choice(["ok", "ok", "ok", "error", "blocked"]),
        }
        events.append(event)
    if null_field is not None:
        events[1234][null_field] = None
        events[1234]["status"] = "ok"
    path = tmp_path / "costs.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    result = report_file(path, by="model")
    for name, rows in [
        ("total", events),
        *((m, [e for e in events if e["model"] == m]) for m in ("m1", "m2", "m3")),
    ]:
        got = (result.total if name == "total" else result.rows[name]).as_dict()
        for field, expected in _reference(rows).items():
            assert got[field] == pytest.approx(expected), (name, field)


# -- a report decodes only the fields it reads: the totals must not change --------------------------
def _every_field(index: int) -> str:
    return _line(
        ts=1_795_000_000 + index * 40_000,
        kind=("chat", "vision")[index % 2],
        requested="text/fast",
        alias=f"a{index % 3}",
        model=f"m{index % 2}",
        tokens_in=100 + index,
        tokens_out=10 + index,
        cached_tokens=5 + index,
        cache_write_tokens=3 + index,
        reasoning_tokens=2 + index,
        images=1,
        cost_usd=0.25 * (index + 1),  # binary fractions: any order of adding gives the same sum
        saved_usd=0.125 * index,
        cached=index % 4 == 0,
        status=("ok", "ok", "error", "blocked")[index % 4],
    )


@pytest.mark.parametrize("by", ["model", "alias", "kind", "day"])
def test_every_grouping_totals_every_field_it_shows(tmp_path: Path, by: str) -> None:
    """Each grouping decodes only its key and the summed fields; a summed field left out of what is
    decoded would read as 0 in every row (the totals are compared with a scan that decodes all)."""
    from operator import attrgetter

    from llmcfg.money.logscan import scan_file

    log = tmp_path / "costs.jsonl"
    log.write_text("".join(_every_field(index) for index in range(40)))
    full = scan_file(log, attrgetter("status")).total().as_dict()
    assert all(value for name, value in full.items() if name not in ("unpriced", "average_cost_usd"))
    result = report_file(log, by=by)
    assert result.total.as_dict() == full
    assert sum(row.requests for row in result.rows.values()) == 40
    assert len(result.rows) == {"model": 2, "alias": 3, "kind": 2}.get(by, len(result.rows)) > 1


def test_what_if_reads_the_log_in_workers_while_the_config_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], write_config: Any
) -> None:
    """``costs --what-if`` starts the scan before it loads the other config: forked workers give the
    same replay as one process, and a broken other config stops them (no worker left running)."""
    import multiprocessing

    from llmcfg.money import logscan

    log = tmp_path / "costs.jsonl"
    log.write_text("".join(_every_field(index) for index in range(400)))
    other = write_config(BASIC)
    answers = []
    for parallel_above in (1 << 40, 1):  # one process, then forked ranges
        monkeypatch.setattr(logscan, "_PARALLEL_ABOVE", parallel_above)
        monkeypatch.setattr(logscan, "_BLOCK", 997)
        if parallel_above == 1:
            monkeypatch.setattr(logscan.threading, "active_count", lambda: 1)  # pytest's own threads
            assert logscan._workers(log.stat().st_size) > 1
        assert main(["costs", "--log", str(log), "--what-if", str(other), "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] == answers[1]
    assert answers[0]["lines"] == 400
    assert (
        sum(row["calls"] for row in answers[0]["rows"]) == 200
    )  # the ok calls; errors and blocks cost nothing
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n")
    assert main(["costs", "--log", str(log), "--what-if", str(broken)]) == 2
    assert "broken.yaml" in capsys.readouterr().err
    assert multiprocessing.active_children() == []


def test_costs_of_a_log_never_builds_the_config_schema(tmp_path: Path) -> None:
    """``costs --log`` reads no config: importing the schema (pydantic's models, about 0.1 s) would be
    most of a small report's time."""
    import subprocess
    import sys

    log = tmp_path / "costs.jsonl"
    log.write_text(_every_field(1))
    code = (
        "import sys\nfrom llmcfg.cli.main import main\n"
        f"assert main(['costs', '--log', {str(log)!r}, '--by', 'alias']) == 0\n"
        "assert 'llmcfg.config.schema' not in sys.modules, 'the schema was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a1" in done.stdout
