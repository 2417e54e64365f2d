"""Reading YAML that may be hostile: bounded work, no tags, positions for every key.

The YAML file is input like any other. PyYAML's safe loader still builds an alias bomb ("billion
laughs", 353 bytes) into gigabytes, recurses on a self-referencing alias and on deep nesting, and
gives tracebacks for NUL bytes and unknown tags. Here the document is built from the parser's
event stream in one loop (no recursion), with limits checked as it goes:

- ``MAX_CHARS`` of text, ``MAX_DEPTH`` levels of nesting, ``MAX_VALUES`` values *after* alias
  expansion (each use of an alias counts everything under it);
- no explicit tags beyond YAML's plain ones (``!!python/name:...`` and friends are refused), no
  merge keys, no second document;
- duplicate keys are refused (plain YAML keeps the last one);
- every failure is a `ConfigError` with file:line:column and, for the usual slips (tabs, wrong
  indentation), a hint on what to fix.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from llmcfg.config.positions import Positions
from llmcfg.exceptions import ConfigError, ConfigIssue

__all__ = ["MAX_CHARS", "MAX_DEPTH", "MAX_VALUES", "read_yaml"]

MAX_CHARS = 1024 * 1024  # a config is a few KB; anything near a MiB is the wrong file or an attack
MAX_DEPTH = 64  # levels of nesting; llmcfg's own schema needs 5
MAX_VALUES = 100_000  # keys, values and items after alias expansion

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 20x faster, same events
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()
_CORE = "tag:yaml.org,2002:"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_PLAIN_TAGS = {None, "!"} | {_CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq")}


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("anchor", "first_seen", "key", "path", "size", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: str, anchor: str | None) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.size = 1  # values in this subtree, aliases expanded
        self.key: str | None = None  # a mapping's key waiting for its value
        self.first_seen: dict[str, int] = {}


class _Builder:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.values = 0
        self.documents = 0
        self.result: Any = None

    def fail(self, mark: Any, message: str, location: str | None = None) -> ConfigError:
        path = self._child_path() if location is None else location
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return ConfigError(ConfigIssue(message, path, self.positions.file, line, column))

    def _child_path(self) -> str:
        if not self.stack:
            return ""
        top = self.stack[-1]
        if isinstance(top.value, dict):
            return top.path if top.key is None else _join(top.path, top.key)
        return _join(top.path, str(len(top.value)))

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fail(event.start_mark, "one YAML document per config file (found a second '---')")
        elif isinstance(event, yaml.ScalarEvent):
            self._count(event, 1)
            self._add(self._scalar(event), 1, event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.value, frame.size)
            self._add(frame.value, frame.size, event, built=True)

    def _count(self, event: yaml.Event, size: int) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            raise self.fail(
                event.start_mark,
                f"the YAML expands to more than {MAX_VALUES:,} values (an alias bomb?); "
                "a config needs far fewer: remove the aliases that repeat large parts",
            )

    def _tag(self, event: yaml.NodeEvent) -> None:
        tag = getattr(event, "tag", None)
        if tag not in _PLAIN_TAGS:
            raise self.fail(
                event.start_mark,
                f"YAML tag {tag!r} is not allowed in a config (tags can build objects); remove it",
            )

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        self._tag(event)
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _CORE + "merge":
            raise self.fail(event.start_mark, "YAML merge keys ('<<') are not supported; write the keys out")
        construct = _CONSTRUCTOR.yaml_constructors.get(tag)
        if construct is None:
            return event.value
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            return construct(_CONSTRUCTOR, node)
        except (ValueError, yaml.YAMLError):
            raise self.fail(event.start_mark, f"cannot read the value {event.value[:40]!r}") from None

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = event.anchor
        if any(frame.anchor == name for frame in self.stack):
            raise self.fail(event.start_mark, f"recursive alias *{name}: it refers to itself")
        if name not in self.anchors:
            raise self.fail(event.start_mark, f"undefined alias *{name} (define &{name} before using it)")
        value, size = self.anchors[name]
        self._count(event, size)
        self._add(copy.deepcopy(value), size, event, built=True)  # no shared mutable values

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        self._tag(event)
        self._count(event, 1)
        if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is None:
            raise self.fail(event.start_mark, "mapping keys must be plain names")
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(event.start_mark, f"the YAML nests deeper than {MAX_DEPTH} levels")
        path = self._child_path()
        self.positions.record_mark(path, event.start_mark)
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(_Frame(value, path, event.anchor))

    def _add(self, value: Any, size: int, event: yaml.Event, *, built: bool = False) -> None:
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not built:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.result = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            if not built:
                self.positions.record_mark(_join(top.path, str(len(top.value))), event.start_mark)
            top.value.append(value)
        elif top.key is None:
            self._key(top, value, event)
        else:
            top.value[top.key] = value
            top.key = None

    def _key(self, top: _Frame, value: Any, event: yaml.Event) -> None:
        if not isinstance(value, (str, int, float, bool)):
            raise self.fail(event.start_mark, "mapping keys must be plain names", top.path)
        key = str(value)
        mark: Any = event.start_mark
        line = mark.line + 1
        child = _join(top.path, key)
        if key in top.value:
            raise ConfigError(
                ConfigIssue(
                    f"duplicate key {key!r} (first defined on line {top.first_seen[key]})",
                    child,
                    self.positions.file,
                    line,
                )
            )
        top.first_seen[key] = line
        top.key = key
        self.positions.record_mark(child, mark)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def read_yaml(text: str, file: str | None) -> tuple[Any, Positions]:
    """The document as plain data (None when it has no content) and the position of each path."""
    positions = Positions(file)
    if len(text) > MAX_CHARS:
        raise ConfigError(
            ConfigIssue(
                f"the config is {len(text) / 1e6:.1f} MB; llmcfg reads at most "
                f"{MAX_CHARS // 1024} KiB (is this the right file?)",
                "",
                file,
            )
        )
    _refuse_control_characters(text, file)
    builder = _Builder(positions)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_syntax_issue(error, text, file)) from None
    except yaml.YAMLError as error:  # e.g. a reader error without a mark
        raise ConfigError(ConfigIssue(f"not readable as YAML: {error}", "", file)) from None
    return builder.result, positions


def _refuse_control_characters(text: str, file: str | None) -> None:
    """NUL and other control characters: a binary or UTF-16 file, or a pasted escape sequence."""
    found = _CONTROL.search(text)
    if found is None:
        return
    index, char = found.start(), found.group()
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    what = "a NUL byte" if char == "\x00" else f"the control character {char!r}"
    hint = " (a UTF-16 file? save it as UTF-8)" if char == "\x00" else ""
    raise ConfigError(
        ConfigIssue(f"the file contains {what}{hint}; a config is UTF-8 text", "", file, line, column)
    )


def _syntax_issue(error: yaml.MarkedYAMLError, text: str, file: str | None) -> ConfigIssue:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "invalid YAML"
    if mark is None:
        return ConfigIssue(f"YAML syntax error: {problem}", "", file)
    line = mark.line + 1
    if "nesting depth" in problem:  # libyaml's own limit (1000) can trip before ours while scanning
        return ConfigIssue(f"the YAML nests deeper than {MAX_DEPTH} levels", "", file, line, mark.column + 1)
    source = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
    indent = source[: len(source) - len(source.lstrip(" \t"))]
    if "\t" in indent or source[mark.column : mark.column + 1] == "\t":
        hint = f"; tabs are not allowed in YAML, use spaces; check the indentation of line {line}"
    elif _is_indentation(error):
        hint = f"; check the indentation of line {line} and of the lines above it"
    else:
        hint = ""
    opened = error.context_mark
    if error.problem and error.context and opened is not None and opened.line != mark.line:
        # An unclosed '{' or '[' is found where the file ends: name the line where it was opened.
        hint += f"; {error.context} that starts at line {opened.line + 1}, column {opened.column + 1}"
    return ConfigIssue(f"YAML syntax error: {problem}{hint}", "", file, line, mark.column + 1)


def _is_indentation(error: yaml.MarkedYAMLError) -> bool:
    words = f"{error.problem} {error.context}"
    return any(
        sign in words
        for sign in ("block end", "expected key", "mapping values are not allowed", "block mapping")
    )
