"""Where ``llm.call`` events go (``logging.events``), and the JSONL cost log kept open between calls."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.money.events import CostLog
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY}}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
router: {{num_retries: 0, timeout_s: 10}}
logging: {{cost_log: {cost_log}{events}}}
"""


@pytest.fixture
def make_llm(write_config: Callable[[str], Path], fake: FakeProvider) -> Callable[..., LLM]:
    def make(events: str | None = None, cost_log: str = "costs.jsonl") -> LLM:
        text = CONFIG.format(cost_log=cost_log, events=f", events: {events}" if events else "")
        return LLM(use_fake(load_config(write_config(text)), fake, isolate=False))

    return make


DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def log_lines(llm: LLM, name: str = "costs.jsonl") -> list[dict[str, Any]]:
    assert llm.config.source is not None
    path = Path(llm.config.source).parent / name
    return [json.loads(line) for line in path.read_text().splitlines()]


def no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Be a program that configured neither structlog nor logging. Called in the test's body: pytest
    adds its capturing handler to the root logger when the test's call phase starts."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


def test_library_default_prints_nothing_on_stdout_and_one_line_on_stderr(
    make_llm: Callable[..., LLM], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_logging_setup(monkeypatch)
    llm = make_llm()
    result = llm.chat("hi", model="mini")
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("llm.call ")
    assert f"request_id={result.request_id}" in line
    assert "kind=chat" in line
    assert "status=ok" in line


def test_events_off_prints_nothing_and_still_writes_the_cost_log(
    make_llm: Callable[..., LLM], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_logging_setup(monkeypatch)
    llm = make_llm(events="off")
    llm.chat("hi", model="mini")
    assert capsys.readouterr() == ("", "")
    assert [e["status"] for e in log_lines(llm)] == ["ok"]
    assert llm.usage_stats()["total"]["requests"] == 1


def test_stderr_mode_flows_into_the_apps_logging_and_its_level_turns_it_off(
    make_llm: Callable[..., LLM], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    llm = make_llm(events="stderr")
    caplog.set_level(logging.INFO, logger="llmcfg.events")
    result = llm.chat("hi", model="mini")
    [record] = [r for r in caplog.records if r.name == "llmcfg.events"]
    assert record.levelno == logging.INFO
    assert record.llmcfg["request_id"] == result.request_id  # type: ignore[attr-defined]
    assert record.getMessage().startswith("llm.call ")
    assert capsys.readouterr().err == ""  # the app's handler got it; llmcfg wrote nothing itself
    logging.getLogger("llmcfg.events").setLevel(logging.WARNING)
    try:
        caplog.clear()
        llm.chat("again", model="mini")
        assert [r for r in caplog.records if r.name == "llmcfg.events"] == []
    finally:
        logging.getLogger("llmcfg.events").setLevel(logging.INFO)


def test_structlog_mode_and_auto_use_the_apps_structlog(
    make_llm: Callable[..., LLM], events: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    make_llm().chat("hi", model="mini")  # auto: capture_logs configured structlog
    make_llm(events="structlog").chat("hi", model="mini")
    assert [e["event"] for e in events] == ["llm.call", "llm.call"]
    assert capsys.readouterr() == ("", "")


def test_the_event_is_not_lost_when_the_cost_log_cannot_be_written(
    make_llm: Callable[..., LLM], tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    (tmp_path / "a-folder").mkdir()
    llm = make_llm(cost_log="a-folder")  # a folder: opening it for appending fails
    result = llm.chat("hi", model="mini")
    call, warning = events
    assert (call["event"], call["request_id"], call["status"]) == ("llm.call", result.request_id, "ok")
    assert warning["event"] == "llm.cost_log_failed"
    assert warning["log_level"] == "warning"
    assert llm.usage_stats()["total"]["requests"] == 1


def test_cost_log_follows_rotation_and_removal(make_llm: Callable[..., LLM], tmp_path: Path) -> None:
    llm = make_llm(events="off")
    llm.chat("one", model="mini")
    (tmp_path / "costs.jsonl").rename(tmp_path / "costs.jsonl.1")  # logrotate's default
    llm.chat("two", model="mini")
    assert len(log_lines(llm, "costs.jsonl.1")) == 1
    assert len(log_lines(llm)) == 1
    (tmp_path / "costs.jsonl").unlink()
    llm.chat("three", model="mini")
    assert len(log_lines(llm)) == 1


def _append_many(path: str, tag: str, count: int) -> None:
    log = CostLog(path)
    for index in range(count):
        log.append({"tag": tag, "index": index, "padding": "x" * 3000})


def test_cost_log_lines_stay_whole_with_several_processes_and_a_fork(tmp_path: Path) -> None:
    path = str(tmp_path / "costs.jsonl")
    shared = CostLog(path)
    shared.append({"tag": "parent", "index": -1})  # the parent's descriptor is open before the fork
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, f"w{n}", 200)) for n in range(2)]
    for worker in workers:
        worker.start()
    _append_many(path, "parent", 200)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    lines = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert len(lines) == 601
    assert {(e["tag"], e["index"]) for e in lines} >= {(f"w{n}", i) for n in range(2) for i in range(200)}
    assert os.path.getsize(path) == sum(len(json.dumps(e, separators=(",", ":"))) + 1 for e in lines)


def test_the_documented_routes_into_structlog_and_logging_work(
    make_llm: Callable[..., LLM], capsys: pytest.CaptureFixture[str]
) -> None:
    into_structlog, into_logging = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    exec(into_structlog, {})
    make_llm().chat("hi", model="mini")
    out, err = capsys.readouterr()
    assert out == ""
    assert json.loads(err)["event"] == "llm.call"
    events_logger = logging.getLogger("llmcfg.events")
    handlers = list(events_logger.handlers)
    try:
        exec(into_logging, {})
        make_llm(events="stderr").chat("hi", model="mini")
        out, err = capsys.readouterr()
        assert out == ""
        assert json.loads(err)["kind"] == "chat"
    finally:
        events_logger.handlers = handlers
        events_logger.propagate = True
