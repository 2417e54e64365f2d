"""The README's two set-up commands are the ones CI runs."""

from pathlib import Path

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
