"""Environment references resolve late and name the variable (never a value) when missing."""

from __future__ import annotations

import pytest

from llmcfg import CredentialError
from llmcfg.config import envrefs


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${KEY}", {"KEY": "v1"}, "v1"),
        ("os.environ/KEY", {"KEY": "v2"}, "v2"),
        ("${KEY:-fallback}", {}, "fallback"),
        ("${KEY:-fallback}", {"KEY": ""}, "fallback"),
        ("${KEY:-}", {}, ""),
        ("http://${HOST:-127.0.0.1}:${PORT}/v1", {"PORT": "8000"}, "http://127.0.0.1:8000/v1"),
        ("plain", {}, "plain"),
    ],
)
def test_forms_resolve(value: str, environ: dict[str, str], expected: str) -> None:
    assert envrefs.resolve(value, environ=environ) == expected


@pytest.mark.parametrize("value", ["${MISSING_KEY}", "os.environ/MISSING_KEY", "pre-${MISSING_KEY}"])
def test_missing_variable_names_variable_and_alias(value: str) -> None:
    with pytest.raises(CredentialError) as caught:
        envrefs.resolve(value, alias="gpt4o", provider="openai", environ={})
    assert caught.value.variable == "MISSING_KEY"
    assert "MISSING_KEY" in str(caught.value)
    assert "'gpt4o'" in str(caught.value)


def test_whole_value_reference_is_what_a_key_must_be() -> None:
    assert envrefs.is_reference("${A}")
    assert envrefs.is_reference("${A:-x}")
    assert envrefs.is_reference("os.environ/A")
    assert not envrefs.is_reference("sk-123")
    assert not envrefs.is_reference("x${A}")
