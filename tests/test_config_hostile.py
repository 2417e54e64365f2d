"""YAML that attacks the loader: each is a ConfigError with file:line, with bounded work and memory.

A hang would be the failure of these tests, so each parse runs under an alarm (a safety net that
turns a hang into a failure, not a timing assertion) and memory is measured with tracemalloc.
"""

from __future__ import annotations

import signal
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcfg import ConfigError, load_config, parse_config

BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


@pytest.fixture
def bounded() -> Iterator[Callable[[Callable[[], Any]], tuple[ConfigError, int]]]:
    """Run a parse that must fail: returns its ConfigError and the peak memory it allocated."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError("the loader did not finish in 20 s")

    previous = signal.signal(signal.SIGALRM, on_alarm)

    def run(parse: Callable[[], Any]) -> tuple[ConfigError, int]:
        tracemalloc.start()
        signal.setitimer(signal.ITIMER_REAL, 20)
        try:
            with pytest.raises(ConfigError) as caught:
                parse()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return caught.value, peak

    yield run
    signal.signal(signal.SIGALRM, previous)


def test_the_353_byte_alias_bomb(bounded: Any) -> None:
    assert len(BOMB) <= 353
    error, peak = bounded(lambda: parse_config(BOMB, "bomb.yaml"))
    assert "alias bomb" in str(error)
    assert str(error).startswith("bomb.yaml:")
    assert error.issues[0].line is not None
    assert peak < 30_000_000


def test_an_alias_that_refers_to_itself(bounded: Any) -> None:
    error, _ = bounded(lambda: parse_config("models: &m\n  mini: *m\n", "r.yaml"))
    assert "recursive alias *m" in str(error)
    assert error.issues[0].line == 2
    error, _ = bounded(lambda: parse_config("a: &a [1, *a]\n", "r.yaml"))
    assert "r.yaml:1:" in str(error)


def test_an_undefined_alias(bounded: Any) -> None:
    error, _ = bounded(lambda: parse_config("providers: {}\nmodels: *nowhere\n", "u.yaml"))
    assert "u.yaml:2:" in str(error)
    assert "undefined alias *nowhere" in str(error)


def test_deep_nesting(bounded: Any) -> None:
    error, peak = bounded(lambda: parse_config("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "deep.yaml"))
    assert "nests deeper than 64 levels" in str(error)
    assert str(error).startswith("deep.yaml:1:")
    assert peak < 30_000_000
    error, _ = bounded(lambda: parse_config("a: " + "{a: " * 10_000 + "1" + "}" * 10_000, "deep.yaml"))
    assert "nests deeper" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "models: !!python/name:os.system\n",
        'models: !!python/object/apply:os.system ["touch pwned"]\n',
        "models: !!binary aGVsbG8=\n",
        "models: !custom {a: 1}\n",
        "models: !!set {a, b}\n",
    ],
)
def test_tags_are_errors(bounded: Any, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    error, _ = bounded(lambda: parse_config("providers: {}\n" + text, "t.yaml"))
    assert "t.yaml:2:" in str(error)
    assert "tag" in str(error)
    assert not (tmp_path / "pwned").exists()


def test_merge_keys_and_second_documents_are_errors(bounded: Any) -> None:
    error, _ = bounded(lambda: parse_config("base: &b {x: 1}\nmodels:\n  <<: *b\n", "m.yaml"))
    assert "m.yaml:3:" in str(error)
    assert "merge keys" in str(error)
    error, _ = bounded(lambda: parse_config("providers: {}\n---\nmodels: {}\n", "d.yaml"))
    assert "d.yaml:2:" in str(error)
    assert "one YAML document" in str(error)


def test_a_number_too_long_to_read(bounded: Any) -> None:
    error, _ = bounded(lambda: parse_config("version: 1" + "0" * 10_000 + "\n", "n.yaml"))
    assert "n.yaml:1:" in str(error)
    assert "cannot read the value" in str(error)


def test_a_50_mb_file_is_refused_without_reading_it(bounded: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as file:
        file.write(b"models:\n")
        file.truncate(50_000_000)  # sparse: costs no disk
    error, peak = bounded(lambda: load_config(path))
    assert "the config is 50.0 MB" in str(error)
    assert str(error).startswith(str(path))
    assert peak < 10_000_000
    error, _ = bounded(lambda: parse_config("# " + "x" * 2_000_000, "big.yaml"))
    assert "llmcfg reads at most 1024 KiB" in str(error)


def test_nul_bytes_and_control_characters(bounded: Any, tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"providers: {}\nmodels:\n  mini\x00: {}\n")
    error, _ = bounded(lambda: load_config(path))
    assert f"{path}:3:7:" in str(error)
    assert "NUL byte" in str(error)
    error, _ = bounded(lambda: parse_config("providers: {}\nmodels: {a\x1b[31m: 1}\n", "esc.yaml"))
    assert "esc.yaml:2:" in str(error)
    assert "control character" in str(error)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_files(bounded: Any, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "wide.yaml"
    path.write_bytes("providers: {}\nmodels: {}\n".encode(encoding))
    error, _ = bounded(lambda: load_config(path))
    assert f"{path}:1:" in str(error)
    assert "save it as UTF-8" in str(error)


def test_a_latin1_file_names_the_line(bounded: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("providers: {}\nmodels: {}\n# Crème brûlée\n".encode("latin-1"))
    error, _ = bounded(lambda: load_config(path))
    assert f"{path}:3:5:" in str(error)
    assert "not UTF-8 text (byte 0xe8)" in str(error)


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfproviders:\n  openai: {}\nmodels:\n  mini: {model: openai/gpt-4o-mini}\n")
    assert list(load_config(path).models) == ["mini"]


def test_aliases_of_reasonable_size_still_work() -> None:
    config = parse_config(
        "providers: {openai: {}}\n"
        "models:\n"
        "  mini: &m {model: openai/gpt-4o-mini, params: {temperature: 0.2}}\n"
        "  other: *m\n"
    )
    assert config.models["other"] == config.models["mini"]


def test_one_long_string_repeated_by_aliases_is_read_once(tmp_path: Path) -> None:
    """Under every limit (< 1 MiB, < 100,000 values), yet one 500 KB string used 90,000 times:
    a check that reads every occurrence does 45 GB of work (validate hung for minutes). Each
    distinct text is checked once, so this loads at the speed of its size."""
    long_text = "x" * 500_000 + "${HOME}"
    uses = ", ".join(["*a"] * 90_000)
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        'version: 1\nproviders:\n  openai: {api_key: "${OPENAI_API_KEY}"}\n'
        f'models:\n  m: {{model: openai/gpt-4o-mini, params: {{stop: [&a "{long_text}", {uses}]}}}}\n'
    )

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError("load_config did not finish in 15 s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 15)  # a safety net against the hang, not a timing test
    try:
        config = load_config(path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert len(config.models["m"].params["stop"]) == 90_001
