"""YAML read with positions: every key and value of the document keeps its file:line:column, so
each error names where to look; duplicate keys are refused here (plain YAML keeps the last one).
Also the did-you-mean helper every room uses for names."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from llmcfg.exceptions import ConfigError, ConfigIssue

__all__ = ["Positions", "closest", "read_yaml"]

_SCALARS = yaml.constructor.SafeConstructor()


class Positions:
    """Dotted path → (line, column), 1-based, of every key and value in a YAML document."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self._marks: dict[str, tuple[int, int]] = {}

    def record(self, path: str, node: yaml.Node) -> None:
        self._marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))

    def issue(self, location: str, message: str) -> ConfigIssue:
        """An issue at ``location``, placed at the nearest recorded position up the path."""
        probe = location
        while probe and probe not in self._marks:
            probe = probe.rpartition(".")[0]
        line, column = self._marks.get(probe, (None, None))
        return ConfigIssue(message, location, self.file, line, column)


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean 'x'?)' for the nearest choice, or '' when nothing is close."""
    normalised = {c.replace("_", "").lower(): c for c in choices}
    key = word.replace("_", "").replace("-", "").lower()
    if key in normalised:  # camelCase or kebab-case of a real key
        return f" (did you mean {normalised[key]!r}?)"
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _to_python(node: yaml.Node, path: str, positions: Positions) -> Any:
    """Build plain data from a composed node, recording positions and refusing duplicate keys."""
    positions.record(path, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, path, positions)
            if not isinstance(key, (str, int, float, bool)):
                raise ConfigError(positions.issue(path, "mapping keys must be plain names"))
            key = str(key)
            child = f"{path}.{key}" if path else key
            if key in result:
                issue = positions.issue(
                    child, f"duplicate key {key!r} (first defined on line {first_seen[key]})"
                )
                raise ConfigError(
                    ConfigIssue(issue.message, child, positions.file, key_node.start_mark.line + 1)
                )
            first_seen[key] = key_node.start_mark.line + 1
            positions.record(child, key_node)
            result[key] = _to_python(value_node, child, positions)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}.{i}", positions) for i, item in enumerate(node.value)]
    return _SCALARS.construct_object(node)  # the safe loader's types: int, bool, null, ...


def read_yaml(text: str, file: str | None) -> tuple[Any, Positions]:
    positions = Positions(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise ConfigError(ConfigIssue(f"YAML syntax error: {problem}", "", file, line, column)) from None
    if node is None:
        return {}, positions
    return _to_python(node, "", positions), positions
