"""The README's two set-up commands are the ones CI runs."""

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    blocks = [part.split("```", 1)[0].strip() for part in readme.split("```bash\n")[1:3]]
    install_and_run, install_and_test = blocks
    assert install_and_run.endswith("llmcfg ocr examples/invoice.png")
    assert ROOT.joinpath("examples", "invoice.png").is_file()
    assert "pytest" in install_and_test
    ci = ROOT.joinpath(".ci", "run").read_text().splitlines()
    assert install_and_test in ci


def test_readme_testing_example_runs_and_its_429_fires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fault is scripted after the standing reply and still fires: the example's own asserts
    check the 429 reached LiteLLM (two requests) and the retry got the answer."""
    readme = ROOT.joinpath("README.md").read_text()
    section = readme.split("## Test your own code offline", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "fake.fail(429" in code
    assert 'fake.reply("Paris")' in code
    shutil.copy(ROOT / "llm_config.yaml", tmp_path / "llm_config.yaml")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert "'model': 'gpt-4o'" in capsys.readouterr().out
