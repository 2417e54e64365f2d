"""Where ``llm.call`` events go (``logging.events``), and the JSONL cost log kept open between calls."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.money.events import CostLog, emit, render
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


# -- the cost log's descriptor: opened once, reopened only when it must be --------------------------------
def descriptors_on(path: str) -> int:
    """How many of this process's descriptors are open on ``path`` (Linux: /proc/self/fd)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}") == path
    return count


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths os.open was called with during the test (a spy on the OS call, not on llmcfg)."""
    seen: list[str] = []
    real_open = os.open

    def spying_open(path: Any, *args: Any, **kwargs: Any) -> int:
        seen.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spying_open)
    return seen


def test_cost_log_keeps_one_descriptor_open_between_appends(tmp_path: Path, opens: list[str]) -> None:
    path = str(tmp_path / "costs.jsonl")
    log = CostLog(path)
    for index in range(3):
        log.append({"index": index})
        assert descriptors_on(path) == 1  # never a second one (a leak per call)
    assert opens == [path]  # and never reopened while the path still names the same file
    log.close()
    assert descriptors_on(path) == 0
    assert [json.loads(line)["index"] for line in Path(path).read_text().splitlines()] == [0, 1, 2]


def test_cost_log_reopens_after_rotation_and_removal_and_closes_the_old_descriptor(
    tmp_path: Path, opens: list[str]
) -> None:
    path = str(tmp_path / "costs.jsonl")
    log = CostLog(path)
    log.append({"n": 1})
    os.rename(path, path + ".1")
    log.append({"n": 2})
    assert (descriptors_on(path + ".1"), descriptors_on(path)) == (0, 1)  # the rotated file is let go
    os.unlink(path)
    log.append({"n": 3})
    assert opens == [path, path, path]
    assert descriptors_on(path) == 1
    log.close()
    assert descriptors_on(path) == 0


def test_cost_log_is_created_with_mode_0644(tmp_path: Path) -> None:
    old = os.umask(0)  # so the mode llmcfg asks for is the mode the file gets
    try:
        CostLog(str(tmp_path / "new" / "costs.jsonl")).append({"n": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "new" / "costs.jsonl").stat().st_mode & 0o777 == 0o644


def test_cost_log_writes_values_json_cannot_encode_as_text(tmp_path: Path) -> None:
    log = CostLog(str(tmp_path / "costs.jsonl"))
    log.append({"where": tmp_path, "n": 1})
    log.close()
    assert json.loads((tmp_path / "costs.jsonl").read_text()) == {"where": str(tmp_path), "n": 1}


# -- the one-line rendering (stderr and the standard library's records) ------------------------------------
def test_render_leaves_out_none_fields_and_keeps_the_rest_in_order() -> None:
    fields = {"kind": "chat", "alias": None, "model": "openai/gpt-4o-mini", "error": None, "status": "ok"}
    assert render("llm.call", fields) == "llm.call kind=chat model=openai/gpt-4o-mini status=ok"


def test_render_writes_non_strings_as_json_and_quotes_strings_that_need_it() -> None:
    fields = {
        "plain": "mini",
        "empty": "",
        "space": "a b",
        "equals": "a=b",
        "quote": 'say"hi"',
        "cached": False,
        "tokens": 12,
        "tried": ["a", "b"],
        "skipped": {"x": "not set"},
        "path": Path("/p"),
    }
    assert render("llm.call", fields) == (
        'llm.call plain=mini empty="" space="a b" equals="a=b" quote="say\\"hi\\"" cached=false tokens=12 '
        'tried=["a", "b"] skipped={"x": "not set"} path="/p"'
    )


# -- emit: the event first, then the cost-log line (with event and ts), a failed write reported -----------
def test_emit_defaults_to_auto_and_sends_llm_call_at_info(events: list[dict[str, Any]]) -> None:
    emit({"request_id": "r1", "status": "ok"}, None)  # auto: capture_logs configured structlog
    assert events == [{"event": "llm.call", "log_level": "info", "request_id": "r1", "status": "ok"}]


def test_emit_appends_event_and_ts_first_with_ts_in_milliseconds(tmp_path: Path) -> None:
    log = CostLog(str(tmp_path / "costs.jsonl"))
    before = time.time()
    for index in range(6):
        emit({"request_id": f"r{index}", "kind": "chat"}, log, "off")
        time.sleep(0.0013)  # six different stamps
    after = time.time()
    log.close()
    lines = (tmp_path / "costs.jsonl").read_text().splitlines()
    for index, line in enumerate(lines):
        entry = json.loads(line)
        assert list(entry) == ["event", "ts", "request_id", "kind"]
        assert (entry["event"], entry["request_id"]) == ("llm.call", f"r{index}")
        assert isinstance(entry["ts"], float)  # not rounded to the second
        assert before - 0.001 <= entry["ts"] <= after + 0.001
    decimals = [len(line.split('"ts":')[1].split(",")[0].partition(".")[2]) for line in lines]
    assert max(decimals) <= 3  # rounded to the millisecond


def test_a_failed_cost_log_write_is_a_warning_naming_the_file_and_the_reason(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    folder = CostLog(str(tmp_path))  # a folder: opening it for appending fails (OSError)
    nul = CostLog(str(tmp_path / "a\0b.jsonl"))  # a NUL in the path: os.open raises ValueError
    emit({"request_id": "r1"}, folder, "structlog")
    emit({"request_id": "r2"}, nul, "structlog")
    assert events == [
        {"event": "llm.call", "log_level": "info", "request_id": "r1"},
        {
            "event": "llm.cost_log_failed",
            "log_level": "warning",
            "path": str(tmp_path),
            "error": "Is a directory",
        },
        {"event": "llm.call", "log_level": "info", "request_id": "r2"},
        {
            "event": "llm.cost_log_failed",
            "log_level": "warning",
            "path": str(tmp_path / "a\0b.jsonl"),
            "error": "embedded null byte",
        },
    ]


def test_with_events_off_a_failed_cost_log_write_still_warns_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_logging_setup(monkeypatch)
    emit({"request_id": "r1"}, CostLog(str(tmp_path)), "off")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f'llm.cost_log_failed path={tmp_path} error="Is a directory"\n'
