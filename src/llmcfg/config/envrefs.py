"""Environment references in config values: ``${VAR}``, ``${VAR:-default}`` and ``os.environ/VAR``.

They are checked when the file is loaded (so a typo fails early) but resolved only when a value is
used, so a missing key for a provider nobody calls is a warning, not an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from llmcfg.exceptions import CredentialError

__all__ = [
    "EnvReference",
    "is_reference",
    "key_pool",
    "missing_variables",
    "parse",
    "referenced_variables",
    "resolve",
    "syntax_error",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BRACED = re.compile(r"\$\{(?P<name>" + _NAME + r")(?::-(?P<default>[^}]*))?\}")
_PROXY_SPELLING = re.compile(r"^os\.environ/(?P<name>" + _NAME + r")$")


@dataclass(frozen=True)
class EnvReference:
    name: str
    default: str | None = None


def parse(value: str) -> list[EnvReference]:
    """The references in ``value``, in order."""
    proxy = _PROXY_SPELLING.match(value)
    if proxy:
        return [EnvReference(proxy["name"])]
    return [EnvReference(m["name"], m["default"]) for m in _BRACED.finditer(value)]


def syntax_error(value: str) -> str | None:
    """Why ``value`` holds a reference that can never resolve, or None when it is fine."""
    if value.startswith("os.environ/") and not _PROXY_SPELLING.match(value):
        return f"{value!r} is not a valid os.environ/NAME reference (NAME: letters, digits, underscore)"
    leftover = _BRACED.sub("", value)
    if "${" in leftover:
        start = leftover.index("${")
        return (
            f"unresolvable reference {leftover[start : start + 30]!r}: write ${{NAME}} or ${{NAME:-default}}, "
            "NAME made of letters, digits and underscores"
        )
    return None


def is_reference(value: str) -> bool:
    """True when the whole value comes from the environment (what an API key must be)."""
    return bool(_PROXY_SPELLING.match(value) or _BRACED.fullmatch(value))


def referenced_variables(value: str) -> list[str]:
    return [ref.name for ref in parse(value)]


def missing_variables(value: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables ``value`` needs that are unset and have no default."""
    env = os.environ if environ is None else environ
    return [ref.name for ref in parse(value) if ref.default is None and not env.get(ref.name)]


def resolve(
    value: str,
    *,
    alias: str | None = None,
    provider: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``value`` with its references replaced; CredentialError names the first unset variable."""
    env = os.environ if environ is None else environ
    proxy = _PROXY_SPELLING.match(value)
    if proxy:
        name = proxy["name"]
        if not env.get(name):
            raise CredentialError(name, alias, provider)
        return env[name]

    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if env.get(name):  # empty counts as unset, as with the shell's ${NAME:-default}
            return env[name]
        if default is not None:
            return default
        raise CredentialError(name, alias, provider)

    return _BRACED.sub(substitute, value)


def key_pool(value: str) -> list[str]:
    """The keys of one resolved ``api_key``: a variable may hold a pool, ``key1,key2,key3`` (keys
    never contain commas); blanks around and between them are dropped."""
    return [key.strip() for key in value.split(",") if key.strip()] or [value]
