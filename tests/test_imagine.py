"""imagine through LiteLLM over HTTP: presets, parameter checks before any request, cost, saving."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import llmcfg
from llmcfg import LLM, CapabilityError, load_config
from llmcfg.money.prices import price_table
from llmcfg.testing import FakeProvider, use_fake

IMAGES = """
providers:
  openai: {api_key: "${OPENAI_API_KEY}"}
  openrouter: {api_key: "${OPENROUTER_API_KEY}"}
models:
  dalle2: {model: openai/dall-e-2, mode: image_generation, price: {per_image: 0.02}}
  dalle3: {model: openai/dall-e-3, mode: image_generation, price: {per_image: 0.04}}
  gpt-image: {model: openai/gpt-image-1}
  flux: {model: openrouter/black-forest-labs/flux-1.1-pro, mode: image_generation, image: {sizes: ["1024x1024", "1440x896"], max_n: 4}}
  mini: {model: openai/gpt-4o-mini}
presets:
  image: {fast: dalle2, balanced: dalle3, best: gpt-image}
fallbacks:
  gpt-image: [dalle3]
router: {num_retries: 0, timeout_s: 5}
fetch: {allow_http: true, allow_private_networks: ["127.0.0.1/32"]}
cache: {dir: cache}
"""


@pytest.fixture
def illm(write_config: Any, fake: FakeProvider) -> LLM:
    return LLM(use_fake(load_config(write_config(IMAGES)), fake))


@pytest.mark.parametrize(
    ("quality", "alias", "model"),
    [
        ("fast", "dalle2", "dall-e-2"),
        ("balanced", "dalle3", "dall-e-3"),
        ("best", "gpt-image", "gpt-image-1"),
    ],
)
def test_each_quality_maps_to_its_alias(
    illm: LLM, fake: FakeProvider, quality: str, alias: str, model: str
) -> None:
    result = illm.imagine("A sunset over mountains", quality=quality)
    assert (result.alias, result.requested, result.count) == (alias, f"image/{quality}", 1)
    assert fake.requests[-1].endpoint == "images"
    assert fake.requests[-1].model == model
    assert result.images[0].url or result.images[0].b64_json


def test_fallback_on_500(illm: LLM, fake: FakeProvider, events: list[dict[str, Any]]) -> None:
    fake.fail(500, model="gpt-image-1")
    result = illm.imagine("A cat", quality="best")
    assert (result.alias, result.fallbacks_tried) == ("dalle3", ("gpt-image",))
    [event] = [e for e in events if e["event"] == "llm.call"]
    assert (event["kind"], event["images"], event["size"], event["quality"]) == (
        "image",
        1,
        "1024x1024",
        "standard",
    )
    assert event["fallbacks_tried"] == ["gpt-image"]


def test_fallbacks_that_cannot_take_the_request_are_left_out(illm: LLM, fake: FakeProvider) -> None:
    fake.fail(500, model="gpt-image-1")
    with pytest.raises(llmcfg.ProviderError):
        illm.imagine("wide", model="gpt-image", size="1536x1024")  # dall-e-3 has no 1536x1024
    assert [r.model for r in fake.requests] == ["gpt-image-1"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model": "dalle3", "size": "512x512"},
            "does not accept size '512x512'; it accepts: 1024x1024, 1792x1024, 1024x1792",
        ),
        ({"model": "dalle3", "n": 2}, "does not accept n 2; it accepts: 1 to 1"),
        ({"model": "dalle2", "size": "1792x1024"}, "it accepts: 256x256, 512x512, 1024x1024"),
        ({"model": "dalle2", "hd": True}, "does not accept quality 'hd'; it accepts: standard"),
        ({"model": "dalle2", "style": "vivid"}, "does not accept style 'vivid'"),
        ({"model": "gpt-image", "image_quality": "hd"}, "it accepts: low, medium, high, auto"),
        ({"model": "gpt-image", "style": "natural"}, "does not accept style 'natural'"),
        ({"model": "gpt-image", "n": 11}, "1 to 10"),
        ({"model": "flux", "size": "1792x1024"}, "it accepts: 1024x1024, 1440x896"),
        ({"model": "flux", "n": 5}, "1 to 4"),
        ({"model": "mini"}, "has mode chat; image needs image_generation"),
    ],
)
def test_invalid_parameters_are_refused_before_any_request(
    illm: LLM, fake: FakeProvider, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(CapabilityError, match=message.replace("(", r"\(").replace(")", r"\)")):
        illm.imagine("x", **kwargs)
    assert fake.requests == []


def test_style_and_hd_reach_dalle3(illm: LLM, fake: FakeProvider) -> None:
    result = illm.imagine("x", model="dalle3", size="1792x1024", hd=True, style="natural")
    body = fake.requests[-1].body
    assert (body["size"], body["quality"], body["style"]) == ("1792x1024", "hd", "natural")
    assert (result.size, result.quality) == ("1792x1024", "hd")


@pytest.mark.parametrize(
    ("size", "quality", "tokens_per_image"), [("1024x1024", "low", 272), ("1536x1024", "high", 6208)]
)
def test_gpt_image_cost_is_the_usage_the_api_reported_at_table_rates(
    illm: LLM, fake: FakeProvider, size: str, quality: str, tokens_per_image: int
) -> None:
    """gpt-image answers carry token usage like the real API; LiteLLM's table prices those tokens."""
    result = illm.imagine("x", model="gpt-image", size=size, image_quality=quality, n=2)
    entry = price_table()["gpt-image-1"]
    prompt_tokens = 3 + 1  # the fake's tokenizer: 3 + the words of the prompt
    expected = (
        prompt_tokens * entry["input_cost_per_token"]
        + 2 * tokens_per_image * entry["output_cost_per_image_token"]
    )
    assert (result.cost_usd, result.cost_source) == (pytest.approx(expected), "table")


def test_cost_is_the_override_for_an_override_priced_model(illm: LLM) -> None:
    result = illm.imagine("x", model="dalle3")
    assert (result.cost_usd, result.cost_source) == (0.04, "override")


def test_unpriced_image_model_is_unknown(illm: LLM) -> None:
    assert illm.imagine("x", model="flux").cost_source == "unknown"


def test_url_and_base64_results_save_as_real_pngs(illm: LLM, fake: FakeProvider, tmp_path: Path) -> None:
    by_url = illm.imagine("x", model="dalle2", n=2)
    paths = by_url.save(tmp_path / "out")
    assert len(paths) == 2
    assert all(Image.open(p).format == "PNG" for p in paths)
    assert len({p.name for p in paths}) == 2  # named by content: two different images
    assert len(fake.gets) == 2
    by_b64 = illm.imagine("y", model="gpt-image")
    assert by_b64.images[0].b64_json is not None
    assert by_b64.first_url is None
    [from_b64] = by_b64.save(tmp_path / "out")
    assert Image.open(from_b64).format == "PNG"
    fake_b64 = base64.b64encode(Path(paths[0]).read_bytes()).decode()
    result = llmcfg.ImageResult(
        images=(llmcfg.GeneratedImage(b64_json=fake_b64),), model="m", alias="a", requested="a"
    )
    [saved] = result.save(tmp_path / "out")
    assert saved == paths[0]  # same content, same file; nothing overwritten
    assert Image.open(io.BytesIO(saved.read_bytes())).size == (16, 16)


def test_save_refuses_urls_the_policy_forbids(illm: LLM, fake: FakeProvider, tmp_path: Path) -> None:
    result = illm.imagine("x", model="dalle2")
    moved = result.model_copy(
        update={"images": (llmcfg.GeneratedImage(url="http://169.254.169.254/latest"),)}
    )
    moved._fetch_settings = result._fetch_settings
    with pytest.raises(llmcfg.ForbiddenHostError):
        moved.save(tmp_path)


async def test_aimagine_and_one_event_per_call(illm: LLM, events: list[dict[str, Any]]) -> None:
    result = await illm.aimagine("Abstract art", n=2, quality="fast")
    assert result.count == 2
    assert len([e for e in events if e["event"] == "llm.call"]) == 1


def test_identical_requests_are_not_cached_unless_asked(illm: LLM, fake: FakeProvider) -> None:
    illm.imagine("same", model="dalle3")
    illm.imagine("same", model="dalle3")
    assert len(fake.requests) == 2
    illm.imagine("same", model="dalle3", cache=True)
    hit = illm.imagine("same", model="dalle3", cache=True)
    assert len(fake.requests) == 3
    assert (hit.cached, hit.saved_usd) == (True, 0.04)


def test_imagine_cli(write_config: Any, fake: FakeProvider, tmp_path: Path) -> None:
    import subprocess
    import sys

    text = IMAGES.replace(
        'openai: {api_key: "${OPENAI_API_KEY}"}',
        f'openai: {{api_base: "{fake.base_url}", api_key: "${{OPENAI_API_KEY:-k}}"}}',
    )
    config = write_config(text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmcfg.cli.main",
            "imagine",
            "a red fox",
            "--quality",
            "balanced",
            "--hd",
            "--style",
            "vivid",
            "--out",
            str(tmp_path / "pics"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [path] = done.stdout.split()
    assert Image.open(path).format == "PNG"
    assert "dalle3" in done.stderr
    assert "$0.0400 (override)" in done.stderr
