"""Reading ``llm_config.yaml``: YAML with positions, the schema, and errors a person can act on.

Every problem is reported with file:line:column and a dotted path (``presets.vision.best``), and
misspelt keys come with the closest valid name. Cross-reference checks live in ``validation``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from llmcfg.config.location import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, default_config_path
from llmcfg.config.positions import Positions, closest
from llmcfg.config.safe_yaml import MAX_CHARS, read_yaml
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

_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


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
        elif item["type"] == "model_type":
            message = _not_a_mapping(loc, item["input"])
        else:
            message = item["msg"].removeprefix("Value error, ")
        issues.append(positions.issue(location, message))
    return issues


def _not_a_mapping(loc: tuple[int | str, ...], value: Any) -> str:
    """A scalar where settings belong; the common case is the alias shorthand ``mini: openai/x``."""
    if (
        len(loc) == 2
        and loc[0] == "models"
        and isinstance(value, str)
        and "/" in value
        and len(value) < 200
        and not any(c.isspace() for c in value)
    ):
        return f"an alias is a mapping: write `{loc[1]}: {{model: {value}}}`"
    # Never echo the value: under providers it may be a pasted key.
    return "expected a mapping of settings here (`key: value` lines or {key: value}), not a single value"


def _networks(config: Config, positions: Positions) -> list[ConfigIssue]:
    """allow_private_networks entries must be networks; found now, not at the first image fetch."""
    entries = config.fetch.allow_private_networks
    issues = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            issues.append(
                positions.issue(
                    f"fetch.allow_private_networks.{index}",
                    f"{entry!r} is not a network; write CIDR notation such as '10.0.0.0/8' or '192.168.1.5/32'",
                )
            )
    return issues


def parse_config(text: str, file: str | None = None) -> Config:
    """Validate YAML text into a Config; ConfigError lists every problem with its position."""

    data, positions = read_yaml(text, file)
    if data is None or data == {}:
        raise ConfigError(
            ConfigIssue("the config is empty: see docs/config.md (at least providers and models)", "", file)
        )
    if not isinstance(data, dict):
        raise ConfigError(
            positions.issue("", "the config must be a mapping of sections (providers, models, ...)")
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_issues_from(error, positions)) from None
    issues = check(config, positions) + _networks(config, positions)
    if issues:
        raise ConfigError(issues)
    config._source = file
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file (default: $LLMCFG_CONFIG, else ./llm_config.yaml)."""
    file = os.fspath(path) if path is not None else default_config_path()
    try:
        with Path(file).open("rb") as stream:
            data = stream.read(MAX_CHARS * 4 + 1)  # enough for MAX_CHARS of any UTF-8 text
            size = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise ConfigError(
            ConfigIssue(f"config file not found (set ${CONFIG_ENV_VAR} or pass a path)", "", file)
        ) from None
    except OSError as error:
        raise ConfigError(ConfigIssue(f"cannot read config file: {error.strerror}", "", file)) from None
    if len(data) > MAX_CHARS * 4:
        size = max(size, len(data))
        raise ConfigError(
            ConfigIssue(
                f"the config is {size / 1e6:.1f} MB; llmcfg reads at most {MAX_CHARS // 1024} KiB "
                "(is this the right file?)",
                "",
                file,
            )
        )
    return parse_config(_decode(data, file), file)


def _decode(data: bytes, file: str) -> str:
    """UTF-8 (with or without a byte-order mark); anything else is named, with where it breaks."""
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise ConfigError(ConfigIssue(f"the file is {encoding} text; save it as UTF-8", "", file, 1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ConfigError(
            ConfigIssue(
                f"the file is not UTF-8 text (byte 0x{data[error.start]:02x}); save it as UTF-8",
                "",
                file,
                line,
                column,
            )
        ) from None
