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


@pytest.mark.parametrize("value", ["${MISSING_KEY}", "os.environ/MISSING_KEY"])
def test_missing_variable_names_the_provider_too(value: str) -> None:
    with pytest.raises(CredentialError) as caught:
        envrefs.resolve(value, alias="gpt4o", provider="openai", environ={})
    assert caught.value.provider == "openai"
    assert "'openai'" in str(caught.value)


@pytest.mark.parametrize("value", ["${LLMCFG_TEST_ENVREF}", "os.environ/LLMCFG_TEST_ENVREF"])
def test_the_process_environment_is_read_when_none_is_given(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCFG_TEST_ENVREF", "from-process")
    assert envrefs.resolve(value) == "from-process"
    assert envrefs.missing_variables(value) == []
    monkeypatch.delenv("LLMCFG_TEST_ENVREF")
    assert envrefs.missing_variables(value) == ["LLMCFG_TEST_ENVREF"]
    with pytest.raises(CredentialError):
        envrefs.resolve(value)


def test_parse_finds_every_reference_in_order_with_its_default() -> None:
    assert envrefs.parse("${A}-${B:-x}/${C:-}") == [
        envrefs.EnvReference("A"),
        envrefs.EnvReference("B", "x"),
        envrefs.EnvReference("C", ""),
    ]
    assert envrefs.parse("os.environ/KEY_1") == [envrefs.EnvReference("KEY_1")]
    assert envrefs.parse("no reference, $A, {B}") == []
    assert envrefs.referenced_variables("http://${HOST}:${PORT:-80}") == ["HOST", "PORT"]


@pytest.mark.parametrize(
    ("value", "environ", "missing"),
    [
        ("${A}${B}", {"A": "1"}, ["B"]),
        ("${A}${B}", {"A": "", "B": "2"}, ["A"]),  # empty counts as unset
        ("${A:-d}${B}", {}, ["B"]),  # a default is never missing
        ("${A:-}", {}, []),
        ("os.environ/A", {}, ["A"]),
        ("os.environ/A", {"A": "k"}, []),
        ("plain", {}, []),
    ],
)
def test_missing_variables_are_the_unset_ones_without_a_default(
    value: str, environ: dict[str, str], missing: list[str]
) -> None:
    assert envrefs.missing_variables(value, environ) == missing


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("os.environ/1BAD", "not a valid os.environ/NAME reference"),
        ("os.environ/A B", "not a valid os.environ/NAME reference"),
        ("os.environ/", "not a valid os.environ/NAME reference"),
        ("${OPENAI_API_KEY", "unresolvable reference '${OPENAI_API_KEY'"),
        ("${1BAD}", "unresolvable reference '${1BAD}'"),
        ("${A}-${B C}", "unresolvable reference '${B C}'"),
        ("${}", "unresolvable reference '${}'"),
    ],
)
def test_syntax_errors_say_which_reference_and_how_to_write_it(value: str, why: str) -> None:
    message = envrefs.syntax_error(value)
    assert message is not None
    assert why in message
    if why.startswith("unresolvable"):
        assert "write ${NAME} or ${NAME:-default}" in message


def test_a_long_broken_reference_is_quoted_only_to_30_characters() -> None:
    value = "prefix ${" + "X" * 100
    message = envrefs.syntax_error(value)
    assert message is not None
    assert repr("${" + "X" * 28) in message
    assert "X" * 29 not in message


@pytest.mark.parametrize(
    "value", ["${A}", "${A:-x}", "pre-${A}-post", "os.environ/A", "plain", "$A", "{A}", "os.environ", ""]
)
def test_valid_values_have_no_syntax_error(value: str) -> None:
    assert envrefs.syntax_error(value) is None


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("k1", ["k1"]),
        ("k1,k2,k3", ["k1", "k2", "k3"]),
        (" k1 , k2 ,", ["k1", "k2"]),
        ("k1,,k2", ["k1", "k2"]),
        ("", [""]),
        (" , ", [" , "]),  # nothing but separators: the value as it is (no key lost silently)
    ],
)
def test_a_key_variable_may_hold_a_pool(value: str, keys: list[str]) -> None:
    assert envrefs.key_pool(value) == keys


def test_whole_value_reference_needs_the_whole_value() -> None:
    assert not envrefs.is_reference("${A}x")
    assert not envrefs.is_reference("os.environ/A x")
    assert not envrefs.is_reference("xos.environ/A")
    assert not envrefs.is_reference("${A}${B}")


def test_the_first_broken_reference_is_quoted_as_written_with_the_whole_hint() -> None:
    assert envrefs.syntax_error("${1A}${OK} ${2B}") == (
        "unresolvable reference '${1A} ${2B}': write ${NAME} or ${NAME:-default}, "
        "NAME made of letters, digits and underscores"
    )
