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
    llm = LLM(use_fake(load_config(write_config(BASIC + "cache: {dir: cache}\n")), fake))
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
