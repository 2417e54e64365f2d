"""The command tables of README.md and docs/cli.md name every option each command takes: a newcomer
reads the table, not ``--help``, and an option missing there (``costs --what-if`` in docs/cli.md,
``log --log`` and ``export --force`` in the README) is one they never find."""

from __future__ import annotations

import argparse
import re

import pytest

from llmcfg.cli.main import _parser
from tests.guarded import ROOT

COMMON = {"-h", "--help", "--config", "-v", "--verbose"}


def options() -> dict[str, set[str]]:
    """Sub-command → the long options (else short) it accepts, as argparse has them."""
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, sub in commands.choices.items():
        found[name] = {
            next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
            for action in sub._actions
            if action.option_strings and not set(action.option_strings) & COMMON
        }
    return found


def table_rows(document: str) -> dict[str, str]:
    """Sub-command → the usage cell of its row in the document's command table."""
    rows = re.findall(r"^\| `llmcfg (\S+)(.*?)` \|", (ROOT / document).read_text(), re.MULTILINE)
    return {name: usage for name, usage in rows if not name.startswith("-")}


@pytest.mark.parametrize("document", ["README.md", "docs/cli.md"])
def test_every_option_of_every_command_is_in_the_table(document: str) -> None:
    rows = table_rows(document)
    missing = {
        command: sorted(o for o in wanted if o not in rows.get(command, ""))
        for command, wanted in options().items()
    }
    assert set(rows) == set(options()), f"{document}: commands in the table"
    assert {c: m for c, m in missing.items() if m} == {}, f"{document}: options missing from the table"


@pytest.mark.parametrize("document", ["README.md", "docs/cli.md"])
def test_the_table_names_no_option_a_command_lacks(document: str) -> None:
    accepted = options()
    invented = {
        command: sorted(set(re.findall(r"--[a-z][a-z-]*", usage)) - accepted[command] - COMMON)
        for command, usage in table_rows(document).items()
    }
    assert {c: o for c, o in invented.items() if o} == {}, f"{document}: options no command takes"
