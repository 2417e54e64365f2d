"""What docs/cli.md shows a command printing is what it prints. Each ``$ command`` there that runs
on the shipped llm_config.yaml alone is run as written: the config commands offline with no keys,
the calling ones against the FakeProvider scripted with the doc's answer and token counts. Every
line the doc shows must come out, in order ('...' stands for lines left out, '…' for part of a
line); spacing, timings and content hashes may differ. A newcomer compares their screen with the
doc: a stale line (a price the shipped config now sets, a cost source that changed, a count of
deployments) is a doc that lies."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from llmcfg.testing import FakeProvider
from tests.guarded import ROOT, guarded_env
from tests.images import jpeg

LLMCFG = Path(sys.executable).parent / "llmcfg"  # the console script pip installed
KEYS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY")


def examples() -> dict[str, list[str]]:
    """``$ command`` → the lines the doc shows after it, for every example block of docs/cli.md."""
    found: dict[str, list[str]] = {}
    for block in re.findall(r"```\n(.*?)```", (ROOT / "docs" / "cli.md").read_text(), re.DOTALL):
        command = None
        for line in block.splitlines():
            if line.startswith("$ "):
                command = line[2:]
                found[command] = []
            elif command is not None:
                found[command].append(line)
    return found


def _normal(line: str) -> str:
    line = re.sub(r"\b\d[\d,]* ms\b", "N ms", line)
    line = re.sub(r"\b[0-9a-f]{16}\b", "HASH", line)
    return " ".join(line.split())


def assert_shows(doc: list[str], stdout: str, stderr: str = "") -> None:
    """Every doc line but '...' and blank ones matches a printed line, in the doc's order within
    each stream (the doc shows a terminal: where stdout and stderr interleave is not checked)."""
    streams = [[_normal(line) for line in text.splitlines()] for text in (stdout, stderr)]
    cursors = [0, 0]
    for wanted in doc:
        if wanted.strip() in ("", "..."):
            continue
        pattern = re.escape(_normal(wanted)).replace("…", ".*")
        for number, lines in enumerate(streams):
            hits = [i for i in range(cursors[number], len(lines)) if re.fullmatch(pattern, lines[i])]
            if hits:
                cursors[number] = hits[0] + 1
                break
        else:
            raise AssertionError(f"docs/cli.md shows {wanted!r}; the command printed:\n{stdout}{stderr}")


def run(command: str, folder: Path, stdin: str | None = None, **env: str) -> tuple[str, str]:
    """The doc's command line (leading VAR=value words become the environment): stdout, stderr."""
    words = shlex.split(command)
    environment = {k: v for k, v in guarded_env(folder).items() if k not in KEYS}
    environment["COLUMNS"] = "200"  # the doc's wide tables, whatever the width of the test's terminal
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        environment[name] = value
    assert words[0] == "llmcfg"
    done = subprocess.run(
        [str(LLMCFG), *words[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=folder,
        env={**environment, **env},
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    (tmp_path / "llm_config.yaml").write_text((ROOT / "llm_config.yaml").read_text())
    return tmp_path


def pointed_at(fake: FakeProvider, folder: Path) -> None:
    """The shipped config with OpenAI at the fake, and the fetcher allowed to download the fake's
    generated images (plain http on 127.0.0.1)."""
    text = (ROOT / "llm_config.yaml").read_text()
    text = text.replace(
        'openai:     {api_key: "${OPENAI_API_KEY}"}',
        f'openai:     {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY}}"}}',
    )
    text = text.replace("allow_http: false", "allow_http: true")
    text = text.replace("allow_private_networks: false", 'allow_private_networks: ["127.0.0.1/32"]')
    assert fake.base_url in text
    assert 'allow_private_networks: ["127.0.0.1/32"]' in text
    (folder / "llm_config.yaml").write_text(text)


OFFLINE = [
    "llmcfg validate",
    "COLUMNS=100 llmcfg plan",
    "OPENAI_API_KEY=... llmcfg models",
    "llmcfg export litellm-proxy proxy_config.yaml",
]


@pytest.mark.parametrize("command", OFFLINE)
def test_config_commands_print_what_the_doc_shows(shipped: Path, command: str) -> None:
    assert_shows(examples()[command], *run(command, shipped))


def test_chat_prints_what_the_doc_shows(tmp_path: Path, fake: FakeProvider) -> None:
    pointed_at(fake, tmp_path)
    fake.reply("Bonjour !", tokens_in=12, tokens_out=4)
    command = 'llmcfg chat "Say hello in French" --quality fast'
    assert_shows(examples()[command], *run(command, tmp_path, OPENAI_API_KEY="k"))
    fake.clear()
    fake.reply("Explain why plan drops columns on narrow terminals", tokens_in=911, tokens_out=9)
    piped = 'llmcfg chat - --system "Write a one-line commit message." --stream'
    command = f"git diff | {piped}"
    printed = run(piped, tmp_path, stdin="diff --git a/x b/x\n", OPENAI_API_KEY="k")
    assert_shows(examples()[command], *printed)


def test_vision_prints_what_the_doc_shows(tmp_path: Path, fake: FakeProvider) -> None:
    """A tall receipt: 6 tiles of 512 at high detail, 1105 image tokens."""
    pointed_at(fake, tmp_path)
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "receipt.jpg").write_bytes(jpeg(768, 1200))
    fake.reply("The total is $42.17.", tokens_in=1105, tokens_out=9)
    command = 'llmcfg vision scans/receipt.jpg "What is the total?" --model gpt4o'
    assert_shows(examples()[command], *run(command, tmp_path, OPENAI_API_KEY="k"))


def test_imagine_prints_what_the_doc_shows(tmp_path: Path, fake: FakeProvider) -> None:
    pointed_at(fake, tmp_path)
    command = 'llmcfg imagine "A red fox in the snow" --quality balanced --out pics/'
    assert_shows(examples()[command], *run(command, tmp_path, OPENAI_API_KEY="k"))


def test_the_matcher_catches_a_stale_line() -> None:
    """The comparison itself can fail: a changed word, a missing line, lines out of order."""
    printed = "a  b   1,234 ms\npics/0123456789abcdef.png\nlast"
    assert_shows(["a b 99 ms", "...", "pics/fedcba9876543210.png", "", "cost"], printed, "cost")
    assert_shows(["cost", "a b 1 ms"], printed, "cost")  # stdout and stderr interleave freely
    for stale in (["a c 99 ms"], ["last", "a b 1 ms"], ["pics/x.png"], ["missing"], ["cost", "cost"]):
        with pytest.raises(AssertionError):
            assert_shows(stale, printed, "cost")


def test_the_cli_against_a_fake_started_as_testing_md_says(tmp_path: Path) -> None:
    """docs/testing.md, "Trying the CLI against the fake": its command starts a fake, its YAML
    (with the printed port) points OpenAI, Anthropic and Gemini at it, and each answers."""
    doc = (ROOT / "docs" / "testing.md").read_text().split("## Trying the CLI against the fake", 1)[1]
    start = doc.split("```bash\n", 1)[1].split("```", 1)[0].strip().removesuffix("&").strip()
    yaml = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = doc.split("```\n$ ", 1)[1].split("```", 1)[0].splitlines()
    words = shlex.split(start)
    assert words[:2] == ["python", "-c"]
    server = subprocess.Popen(
        [sys.executable, *words[1:]], stdout=subprocess.PIPE, text=True, env=guarded_env(tmp_path)
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base), base
        port = base.rsplit(":", 1)[1].removesuffix("/v1")
        (tmp_path / "fake.yaml").write_text(yaml.replace("PORT", port))
        assert_shows(shown[1:], *run(shown[0], tmp_path))
        for quality, alias in (("fast", "mini"), ("best", "flash")):
            answer, cost = run(
                f'llmcfg chat "Say hello in French" --quality {quality} --config fake.yaml', tmp_path
            )
            assert answer == "Bonjour !\n"
            assert cost.startswith(f"[{alias} · ")
    finally:
        server.terminate()
        server.wait(timeout=30)
