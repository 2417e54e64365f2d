"""Positions of a YAML document (every key and value keeps its file:line:column, so each error
names where to look; filled by ``safe_yaml``), and the did-you-mean helper every room uses."""

from __future__ import annotations

from typing import Any

from llmcfg.exceptions import ConfigIssue

__all__ = ["Positions", "closest"]


class Positions:
    """Dotted path → (line, column), 1-based, of every key and value in a YAML document."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self._marks: dict[str, tuple[int, int]] = {}

    def record_mark(self, path: str, mark: Any) -> None:
        """The first position seen for ``path`` wins (a key's, before its value's)."""
        self._marks.setdefault(path, (mark.line + 1, mark.column + 1))

    def issue(self, location: str, message: str) -> ConfigIssue:
        """An issue at ``location``, placed at the nearest recorded position up the path."""
        probe = location
        while probe and probe not in self._marks:
            probe = probe.rpartition(".")[0]
        line, column = self._marks.get(probe, (None, None))
        return ConfigIssue(message, location, self.file, line, column)


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean 'x'?)' for the nearest choice, or '' when nothing is close enough.

    Close enough: the same name in another case/spelling (camelCase, kebab-case), or at most one
    edit away for names up to 4 characters, two up to 8, three beyond (a swap of two neighbours is
    one edit). A bad suggestion ('acme' -> 'nace') costs more trust than none. Between choices
    equally near, the one of the word's length wins: 'modle' is a swap of 'model' before it is
    'mode' plus a stray letter.
    """
    normalised = {c.replace("_", "").lower(): c for c in choices}
    key = word.replace("_", "").replace("-", "").lower()
    if key in normalised:  # camelCase or kebab-case of a real key
        return f" (did you mean {normalised[key]!r}?)"
    limit = 1 if len(word) <= 4 else 2 if len(word) <= 8 else 3
    scored = sorted((_distance(word.lower(), c.lower()), abs(len(c) - len(word)), c) for c in choices)
    if scored and scored[0][0] <= limit:
        return f" (did you mean {scored[0][2]!r}?)"
    return ""


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap neighbours) from a to b: optimal string alignment."""
    if abs(len(a) - len(b)) > 3:
        return 4  # beyond any limit; skips the table for long unrelated names
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
