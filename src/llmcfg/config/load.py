"""Reading ``llm_config.yaml``: YAML with positions, the schema, and errors a person can act on.

Every problem is reported with file:line:column and a dotted path (``presets.vision.best``), and
misspelt keys come with the closest valid name. Cross-reference checks live in ``validation``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from llmcfg.config.positions import Positions, closest, read_yaml
from llmcfg.config.schema import Config
from llmcfg.config.validation import check
from llmcfg.exceptions import ConfigError, ConfigIssue

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

    data, positions = read_yaml(text, file)
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
