"""The CLI as a user runs it: the installed ``llmcfg`` console script in a subprocess, under the
network guard, against the FakeProvider. Exit codes, one clear line on errors, output that fits the
terminal, no litellm where none is needed, and ``ocr --out`` that never writes through a link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC, child_refusals, expected_child_refusals
from tests.guarded import guarded_env
from tests.images import png
from tests.proxy_trap import PROXY_VARIABLES

LLMCFG = Path(sys.executable).parent / "llmcfg"  # the console script pip installed

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """``cli("plan", ...)`` runs the console script with the network guard installed at start-up
    (tests/guarded.py); ``without=("rapidocr",)`` makes those modules missing."""

    def run(
        *args: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        without: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environment = {**guarded_env(tmp_path, without=without), **(env or {})}
        environment.setdefault("COLUMNS", "200")
        return subprocess.run(
            [str(LLMCFG), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            cwd=cwd,
            timeout=180,
        )

    return run


def _pointed(write_config: Any, fake: FakeProvider, extra: str = "cache: {dir: cache}\n") -> Path:
    text = BASIC.replace(
        'openai: {api_key: "${OPENAI_API_KEY}"}',
        f'openai: {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY:-k}}"}}',
    )
    return write_config(text + extra)


def test_the_guard_is_active_in_cli_subprocesses(
    cli: Run, write_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI child's refused connection reaches the log the autouse fixture checks (the child
    itself swallows it into an error line, so the log is what makes the test that started it fail).
    The socket guard is what is tested: the proxy variables (the session's trap) are taken away."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # 192.0.2.1 is TEST-NET-1: without the guard this would try the network (and time out).
    path = write_config(BASIC.replace("http://127.0.0.1:9/v1", "http://192.0.2.1:9/v1"))
    before = child_refusals()
    done = cli("chat", "hi", "--model", "house", "--config", str(path))
    tried = expected_child_refusals(before)
    assert done.returncode == 2
    assert "only loopback is allowed" in done.stderr, done.stderr
    assert tried, "the CLI child's refusal did not reach the session's log"
    assert {line.split(" ", 1)[1] for line in tried} == {"('192.0.2.1', 9)"}


def test_modules_made_missing_in_a_cli_child_keep_the_guard_and_its_log(cli: Run, tmp_path: Path) -> None:
    """``without=`` and the guard share the one hook: hiding a module must not drop the log."""
    script = tmp_path / "child.py"
    script.write_text(
        "import socket, sys\n"
        "print(sys.modules.get('rapidocr', 'present'))\n"
        "try:\n    socket.socket().connect(('198.51.100.7', 80))\nexcept AssertionError:\n    print('refused')\n"
    )
    before = child_refusals()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=guarded_env(tmp_path, without=("rapidocr",)),
        timeout=60,
    )
    tried = expected_child_refusals(before)
    assert done.stdout.split() == ["None", "refused"], done.stderr
    assert [line.split(" ", 1)[1] for line in tried] == ["('198.51.100.7', 80)"]


def test_version() -> None:
    from importlib.metadata import version

    done = subprocess.run([str(LLMCFG), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"llmcfg {version('llmcfg')}"


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["plan"],
        ["models"],
        ["chat", "hi"],
        ["vision", "x.png", "what?"],
        ["ocr", "x.png"],
        ["imagine", "a fox"],
        ["costs"],
        ["log"],
        ["cache", "stats"],
        ["export", "litellm-proxy"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_takes_config(cli: Run, tmp_path: Path, command: list[str]) -> None:
    missing = str(tmp_path / "elsewhere.yaml")
    after = cli(*command, "--config", missing)
    assert after.returncode == 2, after.stderr
    assert after.stderr == f"error: {missing}: config file not found (set $LLMCFG_CONFIG or pass a path)\n"


def test_config_before_the_command_and_positional_file(cli: Run, write_config: Any) -> None:
    path = str(write_config(BASIC))
    for args in (("--config", path, "validate"), ("validate", path), ("validate", "--config", path)):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{path}: ok (5 aliases, 4 providers)\n"
    both = cli("validate", path, "--config", path + ".other")
    assert both.returncode == 2
    assert "two config files given" in both.stderr


def test_validate_ok_and_warns_about_missing_keys(cli: Run, write_config: Any) -> None:
    done = cli("validate", str(write_config(BASIC)))
    assert done.returncode == 0
    assert "ok (5 aliases" in done.stdout
    assert "OPENAI_API_KEY not set; aliases mini, gpt4o will fail" in done.stderr


def test_validate_error_is_one_clear_line_and_exit_2(cli: Run, write_config: Any) -> None:
    path = write_config(BASIC.replace("balanced: mini, best: gpt4o}", "balanced: mini, best: gpt4}", 1))
    done = cli("validate", str(path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path}:")
    assert "presets.text.best: unknown alias 'gpt4' (did you mean 'gpt4o'?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_json_shows_prices_and_keys(cli: Run, write_config: Any) -> None:
    done = cli("plan", "--json", str(write_config(BASIC)), env={"OPENAI_API_KEY": "sk-plan-secret-value"})
    rows = {row["alias"]: row for row in json.loads(done.stdout)}
    assert rows["mini"]["input_per_mtok"] == pytest.approx(0.15)
    assert rows["mini"]["keys"] == "set"
    assert rows["llama-vision"]["keys"] == "missing: OPENROUTER_API_KEY"
    assert rows["llama-vision"]["price_source"] == "unknown"
    assert rows["house"]["price_source"] == "override"
    assert rows["gpt4o"]["fallbacks"] == ["llama-vision", "mini"]


@pytest.mark.parametrize("columns", [60, 80, 99])
def test_plan_fits_a_narrow_terminal(cli: Run, write_config: Any, columns: int) -> None:
    done = cli(
        "plan", str(write_config(BASIC)), env={"COLUMNS": str(columns), "OPENAI_API_KEY": "sk-x-123456"}
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, "\n".join(lines)
    if columns >= 80:  # below that the names themselves wrap
        for alias in ("mini", "gpt4o", "llama-vision", "house", "pooled"):
            assert any(line.startswith(alias) for line in lines), alias
    assert "left out to fit" in done.stdout
    assert "no known price for: llama-vision" in done.stdout
    assert "sk-x-123456" not in done.stdout + done.stderr


def test_plan_shows_every_column_on_a_wide_terminal(cli: Run, write_config: Any) -> None:
    done = cli("plan", str(write_config(BASIC)), env={"COLUMNS": "200"})
    header = next(line for line in done.stdout.splitlines() if line.startswith("alias"))
    assert header.split() == [
        "alias", "provider/model", "in", "$/1M", "out", "$/1M", "mode", "price", "context", "vision",
        "fallbacks", "key",
    ]  # fmt: skip
    assert "left out" not in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("llama-vision"))
    assert "openrouter/meta-llama/llama-3.2-11b-vision-instruct" in row  # not folded when it fits
    assert "UNKNOWN" in row


def test_models_says_which_aliases_are_usable_now(cli: Run, write_config: Any) -> None:
    config = str(
        write_config(BASIC.replace("models:\n", "models:\n  local-ocr: {model: rapidocr/ppocr}\n", 1))
    )
    done = cli("models", "--json", "--config", config, env={"OPENAI_API_KEY": "sk-models-123456"})
    assert done.returncode == 0, done.stderr
    entries = {entry["alias"]: entry for entry in json.loads(done.stdout)}
    assert entries["mini"]["status"] == "yes"
    assert entries["mini"]["presets"] == ["text/fast", "text/balanced", "vision/fast"]
    assert entries["llama-vision"]["status"] == "no: set OPENROUTER_API_KEY"
    assert entries["llama-vision"]["usable"] is False
    assert entries["pooled"]["status"] == "no: set POOL_KEY_1, POOL_KEY_2"
    assert entries["local-ocr"]["status"] == "yes (offline)"
    assert entries["local-ocr"]["mode"] == "ocr"
    assert entries["house"]["status"] == "yes"  # ${LOCAL_KEY:-none} has a default
    table = cli("models", "--config", config, env={"COLUMNS": "80"})
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "sk-models-123456" not in done.stdout + table.stdout
    assert "usable now" in table.stdout
    no_extra = cli("models", "--json", "--config", config, without=("rapidocr",))
    entries = {entry["alias"]: entry for entry in json.loads(no_extra.stdout)}
    assert entries["local-ocr"]["status"] == "no: pip install 'llmcfg[ocr-local]'"
    assert entries["mini"]["status"] == "no: set OPENAI_API_KEY"


def test_schema_is_json_schema(cli: Run) -> None:
    schema = json.loads(cli("schema").stdout)
    assert schema["additionalProperties"] is False
    assert {"providers", "models", "presets", "fallbacks", "budgets", "ocr", "cache", "fetch"} <= set(
        schema["properties"]
    )


def test_commands_that_call_no_model_never_import_litellm(write_config: Any) -> None:
    path = str(write_config(BASIC))
    code = (
        "import sys\nfrom llmcfg.cli.main import main\n"
        f"for args in (['validate', {path!r}], ['plan', {path!r}], ['models', '--config', {path!r}], "
        f"['schema'], ['cache', 'stats', '--config', {path!r}], ['log', '--config', {path!r}]):\n"
        "    assert main(args) in (0, 2), args\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_chat_command_against_the_fake(cli: Run, write_config: Any, fake: FakeProvider) -> None:
    fake.reply("Bonjour")
    config = str(_pointed(write_config, fake))
    done = cli("-v", "chat", "Say hello in French", "--quality", "fast", "--config", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Bonjour\n"  # the answer alone: events and the cost line go to stderr
    assert "(table)" in done.stderr
    assert "llm.call" in done.stderr  # -v; without it the cost line is all (test_provider_error_prints_once)
    assert "alias=mini" in done.stderr


def test_chat_reads_stdin_takes_a_system_prompt_and_streams(
    cli: Run, write_config: Any, fake: FakeProvider
) -> None:
    fake.reply("Bonjour tout le monde")
    config = str(_pointed(write_config, fake))
    done = cli(
        "chat", "-", "--system", "Answer in French.", "--stream", "--config", config, stdin="Say hello\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Bonjour tout le monde\n"
    request = fake.requests[-1]
    assert request.body["stream"] is True
    assert request.messages == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Say hello\n"},
    ]
    assert "mini" in done.stderr
    empty = cli("chat", "-", "--config", config, stdin="")
    assert empty.returncode == 2
    assert empty.stderr == "error: stdin was empty: pass the prompt as an argument, or '-' and pipe it in\n"


def test_chat_command_missing_key_exits_2(cli: Run, write_config: Any) -> None:
    done = cli("chat", "hi", "--model", "mini", "--config", str(write_config(BASIC)))
    assert done.returncode == 2
    assert "OPENAI_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_provider_error_prints_once(cli: Run, write_config: Any, fake: FakeProvider) -> None:
    fake.fail(401, message="Incorrect API key provided", times=None)
    done = cli("chat", "hi", "--model", "mini", "--config", str(_pointed(write_config, fake)))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        "error: alias 'mini' (openai/gpt-4o-mini) failed with AuthenticationError: "
    )
    assert done.stderr.count("AuthenticationError") == 1, done.stderr
    assert "Incorrect API key provided" in done.stderr


def test_log_shows_the_last_calls(cli: Run, write_config: Any, fake: FakeProvider) -> None:
    config = _pointed(write_config, fake)
    llm = LLM(use_fake(load_config(config), fake, isolate=False))
    fake.reply("one", model="gpt-4o-mini", tokens_in=10, tokens_out=2)
    fake.reply("two", model="gpt-4o", tokens_in=30, tokens_out=4)
    for index in range(25):
        llm.chat(f"question {index}", model="mini", cache=False)
    llm.chat("last", model="gpt4o", cache=False)
    default = cli("log", "--config", str(config))
    assert default.returncode == 0, default.stderr
    rows = [line for line in default.stdout.splitlines() if line[:4].isdigit()]
    assert len(rows) == 20
    assert "openai/gpt-4o " in rows[-1]  # newest last, like a log
    assert "30+4" in rows[-1]
    assert "10+2" in rows[0]
    two = cli("log", "-n", "2", "--json", "--config", str(config))
    events = [json.loads(line) for line in two.stdout.splitlines()]
    assert [event["alias"] for event in events] == ["mini", "gpt4o"]
    assert events[-1]["tokens_in"] == 30
    narrow = cli("log", "-n", "3", "--config", str(config), env={"COLUMNS": "80"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_log_without_a_cost_log_says_what_to_do(cli: Run, write_config: Any) -> None:
    path = write_config(BASIC.replace("logging: {cost_log: costs.jsonl}\n", ""))
    done = cli("log", "--config", str(path))
    assert done.returncode == 2
    assert done.stderr == f"error: {path} sets no logging.cost_log; pass --log FILE\n"
    nothing = cli("log", "--log", str(path.parent / "none.jsonl"), "--config", str(path))
    assert nothing.returncode == 2
    assert "cannot read" in nothing.stderr


def _pages(tmp_path: Path, count: int = 3) -> list[str]:
    images = []
    for index in range(count):
        path = tmp_path / f"page{index}.png"
        path.write_bytes(png(100 + index, 50))
        images.append(str(path))
    return images


def test_ocr_command_many_images_out_dir_and_total(
    cli: Run, write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    fake.reply("INVOICE 42", model="gpt-4o-mini", tokens_in=1000, tokens_out=100)
    images = _pages(tmp_path)
    config = str(_pointed(write_config, fake))
    out = tmp_path / "out"
    args = ("ocr", *images, "--model", "mini", "--mode", "base", "--out", str(out), "--jobs", "2")
    done = cli(*args, "--config", config)
    assert done.returncode == 0, done.stderr
    outputs = sorted(out.iterdir())
    assert [p.name for p in outputs] == ["page0.txt", "page1.txt", "page2.txt"]
    assert all(p.read_text() == "INVOICE 42\n" for p in outputs)
    assert "[3/3 images · total $0.000630]" in done.stderr  # 3 × (1000 × 0.15 + 100 × 0.6) / 1M


def test_ocr_out_never_overwrites_without_force(
    cli: Run, write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    fake.reply("NEW TEXT", model="gpt-4o-mini")
    images = _pages(tmp_path, 2)
    config = str(_pointed(write_config, fake))
    out = tmp_path / "out"
    out.mkdir()
    (out / "page1.txt").write_text("precious\n")
    refused = cli("ocr", *images, "--model", "mini", "--out", str(out), "--config", config)
    assert refused.returncode == 2
    assert "page1.txt" in refused.stderr
    assert "pass --force to overwrite" in refused.stderr
    assert (out / "page1.txt").read_text() == "precious\n"
    assert not (out / "page0.txt").exists()
    assert fake.requests == []  # refused before any money was spent
    forced = cli("ocr", *images, "--model", "mini", "--out", str(out), "--force", "--config", config)
    assert forced.returncode == 0, forced.stderr
    assert (out / "page1.txt").read_text() == "NEW TEXT\n"
    assert (out / "page0.txt").read_text() == "NEW TEXT\n"
    assert sorted(p.name for p in out.iterdir()) == ["page0.txt", "page1.txt"]  # no temp file left


def test_ocr_out_never_writes_through_a_planted_symlink(
    cli: Run, write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    fake.reply("ATTACKER CONTROLLED", model="gpt-4o-mini")
    images = _pages(tmp_path, 1)
    config = str(_pointed(write_config, fake))
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("do not touch\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "page0.txt").symlink_to(victim)
    (out / "page0.md").symlink_to(outside / "created-through-link.md")  # dangling: would create it
    refused = cli("ocr", *images, "--model", "mini", "--out", str(out), "--config", config)
    assert refused.returncode == 2
    assert victim.read_text() == "do not touch\n"
    forced = cli("ocr", *images, "--model", "mini", "--out", str(out), "--force", "--config", config)
    assert forced.returncode == 0, forced.stderr
    assert victim.read_text() == "do not touch\n"
    assert not (out / "page0.txt").is_symlink()  # the link itself was replaced
    assert (out / "page0.txt").read_text() == "ATTACKER CONTROLLED\n"
    gundam = cli(
        "ocr",
        *images,
        "--model",
        "mini",
        "--mode",
        "gundam",
        "--out",
        str(out),
        "--force",
        "--config",
        config,
    )
    assert gundam.returncode == 0, gundam.stderr
    assert not (outside / "created-through-link.md").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_write_new_refuses_names_that_leave_the_folder(tmp_path: Path) -> None:
    from llmcfg.cli.files import write_new
    from llmcfg.cli.output import UsageError

    for name in ("../escape.txt", "..", "a/b.txt", ""):
        with pytest.raises(UsageError, match="not a plain file name"):
            write_new(tmp_path / "out", name, b"x")
    assert not (tmp_path / "escape.txt").exists()


def test_vision_and_cache_commands(cli: Run, write_config: Any, fake: FakeProvider, tmp_path: Path) -> None:
    fake.reply("a red rectangle")
    image = tmp_path / "x.png"
    image.write_bytes(png())
    config = str(_pointed(write_config, fake))
    first = cli("vision", str(image), "What is it?", "--model", "gpt4o", "--config", config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "a red rectangle"
    assert "image ≈ 85 tokens" in first.stderr
    second = cli("vision", str(image), "What is it?", "--model", "gpt4o", "--config", config)
    assert "cached" in second.stderr
    assert len(fake.requests) == 1
    stats = cli("cache", "stats", "--config", config)
    assert "responses entries=1" in stats.stdout
    assert "hits=1" in stats.stdout
    cleared = cli("cache", "clear", "--config", config)
    assert "removed 1 entries" in cleared.stdout


def _on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (so rich draws its bar); returns (exit code, stderr)."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=180), b"".join(chunks).decode("utf-8", errors="replace")


def test_ocr_progress_bar_shows_unknown_costs_as_unknown_never_as_zero(
    write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    """Pages read by a model no table prices: the running total is "?" with the count, as the final
    total is; never "$0.000000", a figure that looks complete."""
    import re

    fake.reply("TEXT", model="mystery-vision-1", tokens_in=1000, tokens_out=100)
    text = BASIC.replace(
        'openai: {api_key: "${OPENAI_API_KEY}"}',
        f'openai: {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY:-k}}"}}',
    ).replace(
        "  pooled: {model: pool/gpt-4o-mini}\n",
        "  pooled: {model: pool/gpt-4o-mini}\n  mystery: {model: openai/mystery-vision-1, vision: true}\n",
    )
    config = str(write_config(text + "cache: {dir: cache}\n"))
    env = {**guarded_env(tmp_path), "COLUMNS": "120", "TERM": "xterm"}
    code, screen = _on_a_terminal(
        [str(LLMCFG), "ocr", *_pages(tmp_path, 2), "--model", "mystery", "--jobs", "1", "--config", config],
        env,
    )
    assert code == 0, screen
    shown = re.sub(r"\x1b\[[0-9;]*m", "", screen)
    assert re.search(r"OCR .*2/2 · \? \(2 unpriced\)", shown), shown
    assert not re.search(r"[12]/2 · \$", shown), shown  # once a page is read, never a dollar figure
    assert "[2/2 images · total ? (2 unpriced)]" in shown


def test_ocr_progress_bar_counts_cost_and_failures_and_keeps_events_off_it(
    write_config: Any, fake: FakeProvider, tmp_path: Path
) -> None:
    import re

    fake.reply("TEXT", model="gpt-4o-mini", tokens_in=1000, tokens_out=100)
    images = [*_pages(tmp_path, 3), str(tmp_path / "missing.png")]
    env = {**guarded_env(tmp_path), "COLUMNS": "120", "TERM": "xterm"}
    config = str(_pointed(write_config, fake))
    code, screen = _on_a_terminal(
        [str(LLMCFG), "-v", "ocr", *images, "--model", "mini", "--jobs", "1", "--config", config], env
    )
    assert code == 2  # one image failed
    text = re.sub(r"\x1b\[[0-9;]*m", "", screen)  # colours off; cursor moves and line clears stay
    assert re.search(r"OCR .*4/4 · \$0\.000630 · 1 failed", text), text
    assert "[3/4 images · total $0.000630 · 1 failed]" in text
    events = 0
    for line in re.split(r"\r?\n", text):
        if "llm.call" in line:
            events += 1
            visible = line.rsplit("\r", 1)[-1].removeprefix("\x1b[2K")
            assert visible[:4].isdigit(), f"event glued onto the bar: {line!r}"
            assert "OCR" not in visible
    assert events == 4  # three pages read, one refused
