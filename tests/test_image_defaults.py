"""Image aliases: dall-e and gpt-image need no mode:, their params are defaults a call may override,
and response_format reaches dall-e-3 (in extra_body, as style does)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmcfg import LLM, load_config
from llmcfg.testing import FakeProvider, use_fake

CONFIG = """
version: 1
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
models:
  wide: {model: openai/dall-e-3, params: {size: 1792x1024, quality: hd, style: natural}}
  pair: {model: openai/dall-e-2, params: {n: 2, size: 512x512}}
presets:
  image: {fast: pair, balanced: wide, best: wide}
router: {num_retries: 0}
"""


@pytest.fixture
def llm(tmp_path: Path, fake: FakeProvider) -> LLM:
    path = tmp_path / "llm_config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return LLM(use_fake(load_config(path), fake))


def test_alias_params_are_the_defaults_of_a_call(llm: LLM, fake: FakeProvider) -> None:
    result = llm.imagine("a lighthouse", quality="best")
    body = fake.requests[-1].body
    assert (body["model"], body["size"], body["quality"], body["style"]) == (
        "dall-e-3",
        "1792x1024",
        "hd",
        "natural",
    )
    assert (result.size, result.quality) == ("1792x1024", "hd")
    llm.imagine("a lighthouse", model="pair")
    assert (fake.requests[-1].body["n"], fake.requests[-1].body["size"]) == (2, "512x512")


def test_a_call_overrides_the_alias_defaults(llm: LLM, fake: FakeProvider) -> None:
    result = llm.imagine(
        "a lighthouse", model="wide", size="1024x1024", image_quality="standard", style="vivid"
    )
    body = fake.requests[-1].body
    assert (body["size"], body["quality"], body["style"]) == ("1024x1024", "standard", "vivid")
    assert result.quality == "standard"
    llm.imagine("two", model="pair", n=1)
    assert fake.requests[-1].body["n"] == 1


def test_response_format_b64_json_reaches_dall_e_3(llm: LLM, fake: FakeProvider) -> None:
    result = llm.imagine("a lighthouse", model="wide", response_format="b64_json")
    assert fake.requests[-1].body["response_format"] == "b64_json"
    assert result.images[0].b64_json
    assert result.images[0].url is None


def test_alias_image_params_never_become_deployment_params(llm: LLM) -> None:
    from llmcfg.routing.compile import compile_router

    deployments = compile_router(llm.config, {"OPENAI_API_KEY": "k"}).arguments["model_list"]
    wide = next(d for d in deployments if d["model_name"] == "wide")
    assert not {"size", "quality", "style"} & set(wide["litellm_params"])
