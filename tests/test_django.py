"""The Django recipe of docs/django.md, run for real: its settings, views, URLs and tests in a fresh
process (Django's settings are process-wide), and ``manage.py check`` on a broken YAML."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guarded import ROOT, guarded_env
from tests.test_docs import python_blocks

pytest.importorskip("django", reason="django is in the test extra: pip install -e '.[test]'")

GUARD = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.netguard import install\ninstall()\n"


def _project(folder: Path, yaml: str | None = None) -> Path:
    """docs/django.md's files in ``folder``, with the shipped llm_config.yaml (or ``yaml``)."""
    for name, code in python_blocks("django.md").items():
        (folder / name).write_text(GUARD + code if name == "conftest.py" else code)
    if yaml is None:
        shutil.copy(ROOT / "llm_config.yaml", folder / "llm_config.yaml")
    else:
        (folder / "llm_config.yaml").write_text(yaml)
    return folder


def _django(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``django-admin ARGS --settings settings`` (what manage.py runs), in ``folder``."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings", "settings"],
        cwd=folder,
        env=guarded_env(folder, extra_path=(folder,)),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_documented_recipe_runs(pytester: pytest.Pytester) -> None:
    files = python_blocks("django.md")
    assert set(files) == {"settings.py", "views.py", "urls.py", "conftest.py", "test_views.py"}
    _project(pytester.path)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_check_passes_and_warns_about_unset_keys(tmp_path: Path) -> None:
    done = _django(_project(tmp_path), "check")
    assert done.returncode == 0, done.stderr
    assert "System check identified" in done.stdout + done.stderr
    assert "(llmcfg.W001)" in done.stderr
    assert "OPENAI_API_KEY not set" in done.stderr


def test_check_reports_a_broken_yaml_with_file_and_line(tmp_path: Path) -> None:
    text = (ROOT / "llm_config.yaml").read_text()
    broken = text.replace("{model: openai/gpt-4o-mini}", "{model: openai/gpt-4o-mini, temprature: 0}", 1)
    folder = _project(tmp_path, broken)
    done = _django(folder, "check")
    assert done.returncode == 1
    path = folder / "llm_config.yaml"
    lines = broken.splitlines()
    typo = next(number for number, text in enumerate(lines, 1) if "temprature" in text)
    assert f"(llmcfg.E001) {path}:{typo}:" in done.stderr
    assert "models.mini.temprature: unknown key 'temprature'" in done.stderr
    assert "HINT: fix the file, or point settings.LLMCFG_CONFIG at the right one" in done.stderr
    assert "Traceback" not in done.stderr


def test_call_command_check_raises_with_the_position(tmp_path: Path) -> None:
    folder = _project(
        tmp_path,
        "version: 1\nproviders: {openai: {}}\nmodels:\n  mini: {model: openai/gpt-4o-mini}\npresets:\n  text: {fast: mnii}\n",
    )
    code = (
        "import django, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'settings'\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.core.management.base import SystemCheckError\n"
        "try:\n"
        "    call_command('check')\n"
        "except SystemCheckError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
        "import llmcfg\n"
        "try:\n"
        "    llmcfg.default_llm()\n"
        "except llmcfg.ConfigError as error:\n"
        "    print('first use:', error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env=guarded_env(folder, extra_path=(folder,)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    where = f"{folder / 'llm_config.yaml'}:6:"
    assert f"(llmcfg.E001) {where}" in done.stdout
    assert "presets.text.fast: unknown alias 'mnii' (did you mean 'mini'?)" in done.stdout
    assert f"first use: {where}" in done.stdout  # the app started; the first call says the same


def test_the_app_loads_the_configured_file_once(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    elsewhere = tmp_path / "run-from-here"
    elsewhere.mkdir()
    code = (
        "import django, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'settings'\n"
        "django.setup()\n"
        "import llmcfg\nfrom llmcfg.django import llm\n"
        "assert llm() is llmcfg.default_llm()\n"
        "print(llm().config.source)\n"
        "print(llm().config.resolve_path(llm().config.logging.cost_log))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,  # the working directory is not the project's: paths still resolve to it
        env=guarded_env(folder, extra_path=(folder,)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    source, cost_log = done.stdout.splitlines()
    assert source == str(folder / "llm_config.yaml")
    assert cost_log == str(folder / "llm_costs.jsonl")
