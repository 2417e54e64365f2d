"""Reading ``llm_config.yaml``: YAML with positions, the schema, and errors a person can act on.

Every problem is reported with file:line:column and a dotted path (``presets.vision.best``), and
misspelt keys come with the closest valid name. Cross-reference checks live in ``validation``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from llmcfg.exceptions import ConfigError, ConfigIssue
from llmcfg.schema import Config

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "Positions",
    "closest",
    "default_config_path",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_FILE = "llm_config.yaml"
CONFIG_ENV_VAR = "LLMCFG_CONFIG"
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


def _read_yaml(text: str, file: str | None) -> tuple[Any, Positions]:
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


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model that sits at ``loc`` (for 'did you mean')."""
    current: Any = model
    skip_mapping_key = False
    for part in loc:
        if skip_mapping_key:  # e.g. the alias name in models.<alias>
            skip_mapping_key = False
            continue
        fields = current.model_fields
        if part not in fields:
            return []
        annotation = fields[part].annotation
        skip_mapping_key = get_origin(annotation) is dict
        current = _model_in(annotation)
        if current is None:
            return []
    return list(current.model_fields)


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as ``X | None`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _issues_from(error: ValidationError, positions: Positions) -> list[ConfigIssue]:
    issues = []
    for item in error.errors():
        loc = tuple(item["loc"])
        location = ".".join(str(part) for part in loc)
        if item["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(Config, loc[:-1])
            expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            message = f"unknown key {key!r}{closest(key, allowed)}{expected}"
        elif item["type"] == "literal_error":
            message = f"{item['input']!r} is not allowed; {item['msg'].lower()}"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = item["msg"].removeprefix("Value error, ")
        issues.append(positions.issue(location, message))
    return issues


def parse_config(text: str, file: str | None = None) -> Config:
    """Validate YAML text into a Config; ConfigError lists every problem with its position."""
    from llmcfg.validation import check

    data, positions = _read_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError(
            positions.issue("", "the config must be a mapping of sections (providers, models, ...)")
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_issues_from(error, positions)) from None
    issues = check(config, positions)
    if issues:
        raise ConfigError(issues)
    config._source = file
    return config


def default_config_path() -> str:
    """$LLMCFG_CONFIG, else ./llm_config.yaml."""
    return os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file (default: $LLMCFG_CONFIG, else ./llm_config.yaml)."""
    file = os.fspath(path) if path is not None else default_config_path()
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            ConfigIssue(f"config file not found (set ${CONFIG_ENV_VAR} or pass a path)", "", file)
        ) from None
    except OSError as error:
        raise ConfigError(ConfigIssue(f"cannot read config file: {error.strerror}", "", file)) from None
    return parse_config(text, file)
