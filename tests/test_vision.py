"""vision and ocr through LiteLLM over HTTP: what arrives at the provider, cost, cache, errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import llmcfg
from llmcfg import LLM, CapabilityError, ImageTooLargeError, NotAnImageError, load_config
from llmcfg.images.tokens import estimate_image_tokens
from llmcfg.testing import FakeProvider, use_fake
from tests.conftest import BASIC
from tests.images import encoded, jpeg, png

VISION = BASIC.replace(
    "logging: {cost_log: costs.jsonl}",
    "logging: {cost_log: costs.jsonl}\ncache: {dir: cache}\nfetch: {allow_http: true, allow_private_networks: ['127.0.0.1/32']}\n",
)


@pytest.fixture
def vllm(write_config: Any, fake: FakeProvider) -> LLM:
    return LLM(use_fake(load_config(write_config(VISION)), fake))


def sent_images(fake: FakeProvider) -> list[bytes]:
    parts = fake.requests[-1].messages[0]["content"]
    return [
        base64.b64decode(p["image_url"]["url"].split(",", 1)[1]) for p in parts if p["type"] == "image_url"
    ]


def sent_texts(fake: FakeProvider) -> list[str]:
    return [p["text"] for p in fake.requests[-1].messages[0]["content"] if p["type"] == "text"]


def test_every_input_kind_arrives_as_an_image_part(vllm: LLM, fake: FakeProvider, tmp_path: Path) -> None:
    data = png(40, 30)
    file = tmp_path / "pic.png"
    file.write_bytes(data)
    url = fake.serve("/pic.png", data, content_type="image/png")
    b64 = base64.b64encode(data).decode()
    inputs = [url, str(file), file, data, b64, f"data:image/png;base64,{b64}", Image.open(io.BytesIO(data))]
    for image in inputs:
        result = vllm.vision(image, "What is this?", model="gpt4o", cache=False)
        part = fake.requests[-1].messages[0]["content"][1]
        assert part["type"] == "image_url"
        assert part["image_url"]["url"].startswith("data:image/png;base64,")
        assert part["image_url"]["detail"] == "low"  # 40x30 fits the low-detail view
        assert Image.open(io.BytesIO(sent_images(fake)[0])).size == (40, 30)
        assert sent_texts(fake) == ["What is this?"]
        assert result.image_tokens == 85


def test_large_photo_is_downscaled_for_the_model_and_estimated(vllm: LLM, fake: FakeProvider) -> None:
    result = vllm.vision(jpeg(4000, 3000), "describe", quality="best")
    [sent] = sent_images(fake)
    assert Image.open(io.BytesIO(sent)).size == (1000, 750)  # the 1/4-scale JPEG draft, within 5% of 1024x768
    assert Image.open(io.BytesIO(sent)).format == "JPEG"
    assert result.image_tokens == estimate_image_tokens(1000, 750) == estimate_image_tokens(1024, 768) == 765
    assert (result.image_width, result.image_height) == (1000, 750)
    assert result.alias == "gpt4o"
    assert result.requested == "vision/best"


def test_exif_orientation_is_applied(vllm: LLM, fake: FakeProvider) -> None:
    vllm.vision(jpeg(80, 40, exif_orientation=6), "x", model="gpt4o")
    assert Image.open(io.BytesIO(sent_images(fake)[0])).size == (40, 80)


def test_non_vision_alias_is_refused_before_any_call(
    write_config: Any, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    text = VISION.replace(
        "  pooled: {model: pool/gpt-4o-mini}",
        "  pooled: {model: pool/gpt-4o-mini}\n  turbo: {model: openai/gpt-3.5-turbo}",
    )
    llm = LLM(use_fake(load_config(write_config(text)), fake))
    with pytest.raises(CapabilityError, match="does not accept images"):
        llm.vision(png(), "x", model="turbo")
    assert fake.requests == []
    assert [e["error"] for e in events if e["event"] == "llm.call"] == ["CapabilityError"]


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (b"<html>not an image</html>", NotAnImageError),
        (png(200, 200)[:-40], NotAnImageError),  # truncated
        (encoded(Image.new("1", (20000, 20000)), "PNG"), ImageTooLargeError),  # 400 MP bomb, tiny file
    ],
)
def test_bad_images_are_refused_before_any_model_call(
    vllm: LLM, fake: FakeProvider, image: bytes, error: type[Exception], events: list[dict[str, Any]]
) -> None:
    with pytest.raises(error):
        vllm.vision(image, "x", model="gpt4o")
    assert fake.requests == []
    [event] = [e for e in events if e["event"] == "llm.call"]
    assert event["status"] == "error"
    assert vllm.cache_stats()[1].entries == 0


def test_second_identical_call_is_a_cache_hit_with_no_request(
    vllm: LLM, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    url = fake.serve("/p.jpg", jpeg(), content_type="image/jpeg")
    fake.reply("a green square", tokens_in=1000, tokens_out=10)
    first = vllm.vision(url, "describe", model="gpt4o")
    second = vllm.vision(url, "describe", model="gpt4o")
    assert len(fake.requests) == 1
    assert fake.gets == ["/p.jpg"]  # the image was not downloaded twice either
    assert (second.text, second.cached, second.cost_usd) == ("a green square", True, 0.0)
    assert first.cost_usd is not None
    assert second.saved_usd == pytest.approx(first.cost_usd)
    hit = [e for e in events if e["event"] == "llm.call"][-1]
    assert (hit["cached"], hit["cost_usd"], hit["saved_usd"]) == (True, 0.0, pytest.approx(first.cost_usd))
    vllm.vision(url, "describe", model="gpt4o", cache=False)
    assert len(fake.requests) == 2
    vllm.vision(url, "describe differently", model="gpt4o")
    assert len(fake.requests) == 3
    images, responses = vllm.cache_stats()
    assert (images.entries, responses.entries) == (1, 2)
    assert responses.hits == 1


def test_failed_call_is_not_cached(vllm: LLM, fake: FakeProvider) -> None:
    fake.fail(500, times=3)  # gpt4o and both of its fallbacks
    with pytest.raises(llmcfg.ProviderError):
        vllm.vision(png(), "x", model="gpt4o")
    failed_requests = len(fake.requests)
    assert vllm.vision(png(), "x", model="gpt4o").cached is False
    assert len(fake.requests) == failed_requests + 1


def quadrants(width: int, height: int) -> bytes:
    """An image whose every 320-px block has its own colour, to check tile order."""
    image = Image.new("RGB", (width, height))
    for x in range(0, width, 10):
        for y in range(0, height, 10):
            image.paste((x * 255 // width, y * 255 // height, 99), (x, y, x + 10, y + 10))
    return encoded(image, "PNG")


def test_gundam_sends_overview_then_tiles_in_reading_order(vllm: LLM, fake: FakeProvider) -> None:
    fake.reply("# Page\ntext")
    page = vllm.ocr(quadrants(1500, 1000), mode="gundam", model="gpt4o")
    images = [Image.open(io.BytesIO(b)) for b in sent_images(fake)]
    assert page.tiles == 6  # 3 across (0, 560, 860) x 2 down (0, 360), tile 640, overlap 80
    assert len(images) == 7
    assert images[0].size == (1024, 683)  # the overview, at the mode's max_side
    assert [im.size for im in images[1:]] == [(640, 640)] * 6
    corners = [im.convert("RGB").getpixel((0, 0)) for im in images[1:]]
    assert [c[0] for c in corners[:3]] == sorted(c[0] for c in corners[:3])  # left to right
    assert corners[0][1] < corners[3][1]  # then the next row down
    texts = sent_texts(fake)
    assert texts[0].startswith("The first image is an overview")
    assert texts[1:] == ["Overview of the page:"] + [f"Tile {i} of 6:" for i in range(1, 7)]
    assert (page.text, page.mode) == ("# Page\ntext", "gundam")


@pytest.mark.parametrize(
    ("mode", "side", "detail"), [("tiny", 512, "low"), ("small", 640, "high"), ("base", 1024, "high")]
)
def test_ocr_modes_set_resolution_and_prompt(
    vllm: LLM, fake: FakeProvider, mode: str, side: int, detail: str
) -> None:
    page = vllm.ocr(png(2000, 1000), mode=mode, model="gpt4o")
    [sent] = sent_images(fake)
    assert max(Image.open(io.BytesIO(sent)).size) == side
    assert fake.requests[-1].messages[0]["content"][1]["image_url"]["detail"] == detail
    assert (page.mode, page.tiles) == (mode, 0)


def test_unknown_ocr_mode(vllm: LLM) -> None:
    with pytest.raises(llmcfg.UnknownAliasError, match="did you mean 'gundam'"):
        vllm.ocr(png(), mode="gundm", model="gpt4o")


async def test_async_twins(vllm: LLM, fake: FakeProvider) -> None:
    fake.reply("seen")
    url = fake.serve("/a.png", png(), content_type="image/png")
    result = await vllm.avision(url, "what?", model="gpt4o")
    page = await vllm.aocr(png(), model="gpt4o", mode="base")
    assert (result.text, page.text) == ("seen", "seen")
    assert result.image_tokens == 85


def test_gif_first_frame_and_webp_are_accepted(vllm: LLM, fake: FakeProvider) -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    vllm.vision(buffer.getvalue(), "x", model="gpt4o")
    sent = Image.open(io.BytesIO(sent_images(fake)[0])).convert("RGB")
    assert sent.getpixel((5, 5)) == (255, 0, 0)
    vllm.vision(encoded(Image.new("RGB", (30, 20), (0, 255, 0)), "WEBP"), "x", model="gpt4o")
    assert (
        fake.requests[-1].messages[0]["content"][1]["image_url"]["url"].startswith("data:image/webp;base64,")
    )


def test_ocr_fallback_extends_the_chain_for_ocr_only(write_config: Any, fake: FakeProvider) -> None:
    text = VISION.replace(
        "fallbacks:\n  gpt4o: [llama-vision, mini]", "fallbacks:\n  gpt4o: [llama-vision]"
    ).replace("cache: {dir: cache}", "cache: {dir: cache}\nocr: {fallback: [mini]}")
    llm = LLM(use_fake(load_config(write_config(text)), fake))
    fake.fail(500, model="gpt-4o", times=None)
    fake.fail(500, model="meta-llama/llama-3.2-11b-vision-instruct", times=None)
    page = llm.ocr(png(), mode="base", model="gpt4o")
    assert (page.alias, page.fallbacks_tried) == ("mini", ("gpt4o", "llama-vision"))
    with pytest.raises(llmcfg.ProviderError):
        llm.vision(png(), "x", model="gpt4o")  # vision does not take the OCR-only fallback


def test_ocr_fallback_must_read_images(write_config: Any) -> None:
    text = VISION.replace(
        "  pooled: {model: pool/gpt-4o-mini}",
        "  pooled: {model: pool/gpt-4o-mini}\n  turbo: {model: openai/gpt-3.5-turbo}",
    )
    with pytest.raises(llmcfg.ConfigError, match=r"ocr\.fallback\.0: alias 'turbo' cannot read images"):
        load_config(write_config(text + "ocr: {fallback: [turbo]}\n"))


def test_base64_with_slashes_is_not_taken_for_a_path(vllm: LLM, fake: FakeProvider) -> None:
    data = next(png(w, 7) for w in range(8, 200) if "/" in base64.b64encode(png(w, 7)).decode())
    vllm.vision(base64.b64encode(data).decode(), "x", model="gpt4o")
    assert sent_images(fake)[0] == data
    with pytest.raises(llmcfg.ImageError, match="image file not found"):
        vllm.vision("scans/missing.png", "x", model="gpt4o")
    with pytest.raises(NotAnImageError):
        vllm.vision("just some words", "x", model="gpt4o")
