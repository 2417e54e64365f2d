"""Reading a LiteLLM response's attributes (calls/usage.py ``field``): the same answer as
``getattr(obj, name, None)`` for every kind of attribute a pydantic model or another object has,
without running pydantic's ``__getattr__`` for the absent ones (a per-call cost)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from llmcfg.calls.usage import Usage, field


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")

    tokens: int = 3
    details: dict[str, int] | None = None
    _hidden: dict[str, Any] = PrivateAttr(default_factory=lambda: {"cost": 0.5})

    @property
    def doubled(self) -> int:
        return self.tokens * 2

    def method(self) -> str:
        return "called"

    def __getattr__(self, name: str) -> Any:  # pydantic's slow path, counted
        slow_reads.append(name)
        return super().__getattr__(name)  # type: ignore[misc]


slow_reads: list[str] = []


@pytest.mark.parametrize(
    "name", ["tokens", "details", "extra_cost", "_hidden", "doubled", "absent", "_absent", "__class__"]
)
def test_a_models_attributes_read_as_getattr_reads_them(name: str) -> None:
    reply = Reply(extra_cost=0.25)  # type: ignore[call-arg]
    assert field(reply, name) == getattr(reply, name, None)
    assert field(reply, "method")() == "called"


class Dynamic:
    """An object whose attributes come from ``__getattr__`` (not a pydantic model)."""

    def __getattr__(self, name: str) -> str:
        return f"computed {name}"


def test_a_model_is_read_without_its_getattr() -> None:
    """What the helper is for: an absent field, an extra, a private attribute read directly."""
    reply = Reply(extra_cost=0.25)  # type: ignore[call-arg]
    slow_reads.clear()
    assert [field(reply, name) for name in ("absent", "extra_cost", "_hidden")] == [None, 0.25, {"cost": 0.5}]
    assert slow_reads == []
    assert getattr(reply, "absent", None) is None
    assert slow_reads == ["absent"]  # the test's own check: a plain getattr does take the slow path


def test_other_objects_and_none() -> None:
    assert field(Dynamic(), "cost") == "computed cost"
    assert field(Dynamic(), "_hidden_params") == "computed _hidden_params"
    plain = SimpleNamespace(prompt_tokens=4)
    assert field(plain, "prompt_tokens") == 4
    assert field(plain, "cost") is None
    assert field(None, "prompt_tokens") is None
    assert field({"prompt_tokens": 4}, "prompt_tokens") is None  # a dict's keys are not attributes


def test_litellms_usage_with_cache_counts_and_a_reported_cost() -> None:
    from litellm.types.utils import Usage as LiteLLMUsage

    usage = LiteLLMUsage(
        prompt_tokens=10,
        completion_tokens=2,
        total_tokens=12,
        cache_creation_input_tokens=5,
        cache_read_input_tokens=3,
        cost=0.25,
    )
    assert Usage.of(usage) == Usage(
        tokens_in=10, tokens_out=2, cached_in=3, cache_write_in=5, reasoning=0, reported_usd=0.25
    )
    bare = LiteLLMUsage(prompt_tokens=10, completion_tokens=2, total_tokens=12)
    assert Usage.of(bare) == Usage(tokens_in=10, tokens_out=2)
