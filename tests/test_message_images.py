"""Image URLs inside chat messages go through llmcfg's own intake, as ``vision()``'s do: a remote
image is fetched under the ``fetch`` policy and reaches the provider as a ``data:`` URL (LiteLLM
and the provider never download anything); a ``data:`` image is checked and passed on; anything
else is refused before a request leaves. Over real HTTP, through the real LiteLLM, in the OpenAI,
Anthropic and Gemini wire formats, for chat, achat, stream, astream and extract."""

from __future__ import annotations

import base64
import io
import json
import sys
import textwrap
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from PIL import Image
from pydantic import BaseModel

from llmcfg import (
    LLM,
    BudgetExceededError,
    ForbiddenHostError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    load_config,
)
from llmcfg.testing import FakeProvider, RecordedRequest, use_fake
from tests.images import png

YAML = """
version: 1
providers:
  openai: {{api_key: "${{OPENAI_API_KEY:-k}}"}}
  anthropic: {{api_key: "${{ANTHROPIC_API_KEY:-k}}"}}
  gemini: {{api_key: "${{GEMINI_API_KEY:-k}}"}}
models:
  openai: {{model: openai/gpt-4o-mini, params: {{max_tokens: 100}}}}
  anthropic: {{model: anthropic/claude-sonnet-4-5, params: {{max_tokens: 100}}}}
  gemini: {{model: gemini/gemini-2.5-flash, params: {{max_tokens: 100}}}}
router: {{num_retries: 0, timeout_s: 10, cooldown_s: 0, allowed_fails: 100}}
cache: {{dir: cache}}
fetch: {{allow_http: true, allow_private_networks: ["127.0.0.1/32"], {fetch}}}
{extra}
"""
WIRES = ["openai", "anthropic", "gemini"]


def make_llm(fake: FakeProvider, folder: Path, fetch: str = "timeout_s: 5", extra: str = "") -> LLM:
    path = folder / "llm_config.yaml"
    path.write_text(textwrap.dedent(YAML.format(fetch=fetch, extra=extra)))
    return LLM(use_fake(load_config(path), fake))


@pytest.fixture
def app(fake: FakeProvider, tmp_path: Path) -> LLM:
    return make_llm(fake, tmp_path)


def asking(*urls: Any, text: str = "What is in it?") -> list[dict[str, Any]]:
    """One user message: the text, then an image_url part per URL (a dict part, or as given)."""
    parts: list[Any] = [{"type": "text", "text": text}]
    for url in urls:
        parts.append(url if isinstance(url, dict) else {"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": parts}]


class Seen(BaseModel):
    colour: str


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    import asyncio

    return asyncio.run(coroutine)


async def _astream(app: LLM, messages: list[dict[str, Any]], model: str) -> str:
    return "".join([delta async for delta in app.astream(messages=messages, model=model)])


CallKind = Callable[[LLM, list[dict[str, Any]], str], Any]
KINDS: dict[str, CallKind] = {
    "chat": lambda app, messages, model: app.chat(messages=messages, model=model),
    "achat": lambda app, messages, model: _run(app.achat(messages=messages, model=model)),
    "stream": lambda app, messages, model: "".join(app.stream(messages=messages, model=model)),
    "astream": lambda app, messages, model: _run(_astream(app, messages, model)),
    "extract": lambda app, messages, model: app.extract(messages, Seen, model=model),
}


def images_sent(wire: str, sent: RecordedRequest) -> list[bytes]:
    """Every image of the request, found where THIS wire format puts it, as bytes; fails on an
    image sent by URL (which the provider or LiteLLM would download)."""
    found = []
    for message in sent.messages:
        parts = message.get("parts" if wire == "gemini" else "content")
        for part in parts if isinstance(parts, list) else []:
            if wire == "anthropic" and part.get("type") == "image":
                assert part["source"]["type"] == "base64", part
                found.append(base64.b64decode(part["source"]["data"]))
            elif wire == "gemini" and ("file_data" in part or "fileData" in part):
                raise AssertionError(f"an image went to Gemini by URL: {part}")
            elif wire == "gemini" and ("inline_data" in part or "inlineData" in part):
                found.append(base64.b64decode((part.get("inline_data") or part["inlineData"])["data"]))
            elif wire == "openai" and part.get("type") == "image_url":
                head, _, data = part["image_url"]["url"].partition(",")
                assert head.startswith("data:image/"), head
                assert head.endswith(";base64"), head
                found.append(base64.b64decode(data))
    return found


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def refused_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in logs if event["event"] == "image.fetch_refused"]


# -- a remote image arrives as a data: URL --------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("wire", WIRES)
def test_a_remote_image_reaches_the_provider_as_data(
    app: LLM, fake: FakeProvider, wire: str, kind: str
) -> None:
    url = fake.serve("/cat.png", png(64, 48), content_type="image/png")
    fake.reply('{"colour": "red"}')
    KINDS[kind](app, asking(url), wire)
    assert fake.gets == ["/cat.png"]  # fetched once, by llmcfg
    (sent,) = fake.requests
    assert sent.provider == wire
    assert url not in json.dumps(sent.body)
    assert [size_of(image) for image in images_sent(wire, sent)] == [(64, 48)]


@pytest.mark.parametrize("wire", WIRES)
def test_every_image_of_every_message_is_fetched_in_either_spelling(
    app: LLM, fake: FakeProvider, wire: str
) -> None:
    """Two messages, the string form ``image_url: "..."`` and the dict form, and the part's other
    keys kept: none of them reaches the provider as a URL."""
    first = fake.serve("/first.png", png(40, 30), content_type="image/png")
    second = fake.serve("/second.png", png(20, 10), content_type="image/png")
    messages = [
        *asking({"type": "image_url", "image_url": first}),
        {"role": "assistant", "content": "A small picture."},
        *asking(second, text="And this one?"),
    ]
    app.chat(messages=messages, model=wire)
    assert sorted(fake.gets) == ["/first.png", "/second.png"]
    (sent,) = fake.requests
    assert [size_of(image) for image in images_sent(wire, sent)] == [(40, 30), (20, 10)]
    assert messages[0]["content"][1] == {
        "type": "image_url",
        "image_url": first,
    }  # the caller's list untouched


@pytest.mark.parametrize("kind", ["chat", "achat"])
def test_a_remote_image_is_normalised_for_the_model_and_kept_in_the_image_cache(
    app: LLM, fake: FakeProvider, kind: str
) -> None:
    url = fake.serve("/big.png", png(4000, 1000), content_type="image/png")
    KINDS[kind](app, asking(url), "openai")
    KINDS[kind](app, asking(url, text="Again?"), "openai")
    assert fake.gets == ["/big.png"]  # the second call was served by the image cache
    for sent in fake.requests:
        (part,) = [p for p in sent.messages[0]["content"] if p.get("type") == "image_url"]
        assert part["image_url"]["detail"] == "high"  # chosen as vision() chooses it
        assert size_of(images_sent("openai", sent)[0]) == (2048, 512)  # OpenAI's fit-2048


def test_the_parts_detail_and_cache_marker_are_honoured(app: LLM, fake: FakeProvider) -> None:
    """``detail: low`` is what vision(detail="low") sends (512 px), the part's ``cache_control``
    reaches Anthropic, and a ``format`` meant for the remote file is not carried over."""
    url = fake.serve("/photo.png", png(2000, 1000), content_type="image/png")
    part = {
        "type": "image_url",
        "image_url": {"url": url, "detail": "low", "format": "image/webp"},
        "cache_control": {"type": "ephemeral"},
    }
    app.chat(messages=asking(part), model="openai")
    app.chat(messages=asking(part), model="anthropic")
    openai, anthropic = fake.requests
    (sent,) = [p for p in openai.messages[0]["content"] if p.get("type") == "image_url"]
    assert (sent["image_url"]["detail"], size_of(images_sent("openai", openai)[0])) == ("low", (512, 256))
    (block,) = [p for p in anthropic.messages[0]["content"] if p.get("type") == "image"]
    assert block["cache_control"] == {"type": "ephemeral"}
    assert block["source"]["media_type"] == "image/png"


# -- refusals before anything is sent ---------------------------------------------------------------
PRIVATE = [
    "http://10.0.0.1/x.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fec0::1]/x.png",  # site-local: LiteLLM's own check lets it through
    "http://[2002:7f00:1::1]/x.png",  # 6to4 of 127.0.0.1: same
    "http://[64:ff9b::7f00:1]/x.png",  # NAT64 of 127.0.0.1: same
    "HTTP://192.168.1.1/x.png",
]


def assert_refused_before_sending(
    app: LLM, fake: FakeProvider, messages: list[dict[str, Any]], model: str, error: type, reason: str
) -> None:
    for kind in KINDS.values():
        with structlog.testing.capture_logs() as logs, pytest.raises(error, match=reason):
            kind(app, messages, model)
        assert fake.requests == []
        calls = [e for e in logs if e["event"] == "llm.call"]
        assert [(e.get("error"), e.get("fallbacks_tried")) for e in calls] == [(error.__name__, [])], calls
        if issubclass(error, ForbiddenHostError):
            assert len(refused_events(logs)) == 1


@pytest.mark.parametrize("url", PRIVATE)
@pytest.mark.parametrize("wire", WIRES)
def test_a_private_address_is_refused_before_any_request_leaves(
    app: LLM, fake: FakeProvider, wire: str, url: str
) -> None:
    assert_refused_before_sending(
        app, fake, asking(url), wire, ForbiddenHostError, "not a public internet address"
    )


@pytest.mark.parametrize("wire", WIRES)
def test_one_private_image_after_a_good_one_refuses_the_call(app: LLM, fake: FakeProvider, wire: str) -> None:
    good = fake.serve("/ok.png", png(), content_type="image/png")
    messages = [*asking(good), {"role": "assistant", "content": "ok"}, *asking("http://10.9.8.7/x.png")]
    assert_refused_before_sending(app, fake, messages, wire, ForbiddenHostError, "10.9.8.7")


def test_an_image_in_any_role_is_refused(app: LLM, fake: FakeProvider) -> None:
    """Not only the user's messages: a system or assistant message with an image part too."""
    for role in ("system", "assistant"):
        (message,) = asking("http://10.1.1.1/x.png")
        messages = [{**message, "role": role}, {"role": "user", "content": "Hi"}]
        assert_refused_before_sending(app, fake, messages, "openai", ForbiddenHostError, "10.1.1.1")


@pytest.mark.parametrize("wire", WIRES)
def test_a_name_that_resolves_to_a_private_address_is_refused(
    app: LLM, fake: FakeProvider, dns: dict[str, str], wire: str
) -> None:
    dns["images.test"] = "10.20.30.40"
    assert_refused_before_sending(
        app, fake, asking("http://images.test/x.png"), wire, ForbiddenHostError, "10.20.30.40"
    )


@pytest.mark.parametrize("wire", WIRES)
def test_a_redirect_to_the_metadata_service_is_refused(app: LLM, fake: FakeProvider, wire: str) -> None:
    start = fake.redirect("/r.png", "http://169.254.169.254/latest/meta-data/")
    assert_refused_before_sending(app, fake, asking(start), wire, ForbiddenHostError, "169.254.169.254")
    assert set(fake.gets) == {"/r.png"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.test/x.png", "scheme 'ftp' is not allowed"),
        ("gopher://example.test/x.png", "scheme 'gopher' is not allowed"),
        ("/etc/passwd", r"scheme '\(none\)' is not allowed"),
        ("cat.png", r"scheme '\(none\)' is not allowed"),
        (base64.b64encode(png()).decode(), r"scheme '\(none\)' is not allowed"),  # bare base64
    ],
)
def test_other_schemes_and_paths_are_refused_never_read(
    app: LLM, fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    (tmp_path / "cat.png").write_bytes(png())
    monkeypatch.chdir(tmp_path)  # "cat.png" exists here: still refused, never read
    assert_refused_before_sending(app, fake, asking(url), "openai", ForbiddenHostError, reason)


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ({"type": "image_url"}, r"messages\[0\]\.content\[1\] is an image_url part without a URL"),
        ({"type": "image_url", "image_url": {"detail": "high"}}, "without a URL"),
        ({"type": "image_url", "image_url": {"url": 7}}, "without a URL"),
        ({"type": "image_url", "image_url": {"url": "data:,x", "detail": "ultra"}}, "'ultra'; use auto"),
    ],
)
def test_malformed_image_parts_say_where(
    app: LLM, fake: FakeProvider, part: dict[str, Any], reason: str
) -> None:
    assert_refused_before_sending(app, fake, asking(part), "openai", ImageError, reason)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "file", "file": {"file_id": "https://files.example.test/report.pdf"}},
        {"type": "file", "file": {"file_data": "http://10.0.0.1/report.pdf", "format": "application/pdf"}},
        {"type": "video_url", "video_url": {"url": "http://[fec0::1]/v.mp4"}},
        {"type": "image", "source": {"type": "url", "url": "http://169.254.169.254/"}},
        {"type": "document", "source": {"type": "url", "url": "gs://bucket/file.pdf"}},
        {"type": "input_image", "image_url": " HTTP://10.0.0.1/x.png"},
    ],
)
def test_other_parts_that_name_a_url_are_refused(app: LLM, fake: FakeProvider, part: dict[str, Any]) -> None:
    """LiteLLM downloads some of these itself (a file part's URL for Gemini and Anthropic, a
    tool result's media): llmcfg fetches images only, so such a part never leaves."""
    assert_refused_before_sending(app, fake, asking(part), "openai", ForbiddenHostError, "names a URL")


def test_other_parts_without_a_url_pass(app: LLM, fake: FakeProvider) -> None:
    parts = [
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}, "note": "Answer: yes"},
    ]
    app.chat(messages=asking(*parts), model="openai")
    assert fake.requests[0].messages[0]["content"][1:] == parts


# -- data: URLs ---------------------------------------------------------------------------------------
def data_url(data: bytes, mime: str = "image/png", scheme: str = "data") -> str:
    return f"{scheme}:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize("scheme", ["data", "DATA"])
def test_a_data_image_is_passed_on_unchanged(app: LLM, fake: FakeProvider, scheme: str) -> None:
    url = data_url(png(30, 20), scheme=scheme)
    app.chat(messages=asking(url), model="openai")
    assert fake.gets == []
    (part,) = [p for p in fake.requests[0].messages[0]["content"] if p.get("type") == "image_url"]
    assert part["image_url"]["url"] == url


def noisy_png(width: int, height: int) -> bytes:
    import os

    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "fetch", "error", "reason"),
    [
        (png(3000, 2000), "max_pixels: 5000000", ImageTooLargeError, "the limit is 5,000,000"),
        (noisy_png(100, 100), "max_size_mb: 0.01", ImageTooLargeError, "the limit is 10,485 bytes"),
        (b"<html><body>not an image</body></html>", "timeout_s: 5", NotAnImageError, "not a supported image"),
        (png()[:60], "timeout_s: 5", NotAnImageError, "truncated or corrupt PNG"),
    ],
)
def test_a_data_image_gets_the_decode_checks(
    fake: FakeProvider, tmp_path: Path, image: bytes, fetch: str, error: type, reason: str
) -> None:
    app = make_llm(fake, tmp_path, fetch)
    assert_refused_before_sending(app, fake, asking(data_url(image)), "anthropic", error, reason)


def test_a_data_image_of_exactly_the_size_limit_passes(fake: FakeProvider, tmp_path: Path) -> None:
    limit = 10 * 1024  # max_size_mb 10/1024 is exact in binary: the limit is 10,240 bytes
    app = make_llm(fake, tmp_path, f"max_size_mb: {10 / 1024!r}")
    picture = png(50, 50)
    exact = picture + b"\0" * (limit - len(picture))  # trailing bytes after IEND: still a whole PNG
    app.chat(messages=asking(data_url(exact)), model="openai")
    assert len(fake.requests) == 1
    with pytest.raises(ImageTooLargeError, match="10,241 bytes; the limit is 10,240 bytes"):
        app.chat(messages=asking(data_url(exact + b"\0")), model="openai")
    assert len(fake.requests) == 1


def test_a_data_image_must_be_base64(app: LLM, fake: FakeProvider) -> None:
    assert_refused_before_sending(
        app, fake, asking("data:image/png,%89PNG"), "openai", NotAnImageError, "must be base64-encoded"
    )
    assert_refused_before_sending(
        app, fake, asking("data:image/png;base64,@@@"), "openai", NotAnImageError, "not valid base64"
    )


# -- the estimate counts the image, as vision()'s does -------------------------------------------------
@pytest.mark.parametrize("kind", ["chat", "achat", "stream", "astream"])
@pytest.mark.parametrize("source", ["remote", "data"])
def test_the_image_counts_toward_the_budget_estimate(
    fake: FakeProvider, tmp_path: Path, kind: str, source: str
) -> None:
    """Text alone costs under $0.0001 on gpt-4o-mini; a 2048x2048 image at high detail ~25,000
    tokens ($0.004): a per-request limit of $0.001 must refuse the call with the image in it."""
    app = make_llm(fake, tmp_path, extra="budgets: {per_request_usd: 0.001}")
    picture = png(2048, 2048)
    url = (
        fake.serve("/large.png", picture, content_type="image/png")
        if source == "remote"
        else data_url(picture)
    )
    KINDS[kind](app, asking(), "openai")  # text alone fits
    assert len(fake.requests) == 1
    with pytest.raises(BudgetExceededError):
        KINDS[kind](app, asking(url), "openai")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("source", ["remote", "data"])
def test_estimate_cost_counts_the_image_as_the_budget_does(app: LLM, fake: FakeProvider, source: str) -> None:
    picture = png(2048, 2048)
    url = (
        fake.serve("/large.png", picture, content_type="image/png")
        if source == "remote"
        else data_url(picture)
    )
    text = app.estimate_cost(messages=asking(), model="openai", max_tokens=10)
    with_image = app.estimate_cost(messages=asking(url), model="openai", max_tokens=10)
    assert text is not None
    assert with_image is not None
    assert with_image - text == pytest.approx(25_501 * 0.15e-6)  # gpt-4o-mini, 2048x2048 high: 25,501 tokens
    with pytest.raises(ForbiddenHostError):
        app.estimate_cost(messages=asking("http://10.0.0.1/x.png"), model="openai")


def test_count_tokens_never_downloads_an_image(app: LLM) -> None:
    """LiteLLM's counter would fetch a remote image at detail high to measure it (with its own
    weaker check): llmcfg counts such an image at LiteLLM's default instead. images.test resolves
    nowhere here: the lookup alone would be recorded by the network guard and fail the test."""
    part = {"type": "image_url", "image_url": {"url": "http://images.test/x.png", "detail": "high"}}
    assert app.count_tokens(asking(part), model="openai") > 0


@pytest.mark.parametrize("kind", ["achat", "avision"])
async def test_a_call_cancelled_while_its_image_is_fetched_is_recorded_once(
    app: LLM, fake: FakeProvider, kind: str
) -> None:
    """The protocol's one event, whatever happens: also when the task is cancelled in ``prepare``
    (the image half downloaded, the server stalling); nothing is sent. The cancel lands while the
    download waits for the stalled rest, as in use; a cancel that lands in the very loop turn a
    chunk arrives is the next test's case (lost on Python 3.11, a bug of the fetcher's wait_for)."""
    import asyncio
    import threading

    half_sent, release = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        yield png()[:20]
        half_sent.set()  # the server asks for the rest: the first half is on the wire
        release.wait(30)
        yield png()[20:]

    url = fake.serve("/slow.png", slow, content_type="image/png")
    with structlog.testing.capture_logs() as logs:
        if kind == "achat":
            task = asyncio.create_task(app.achat(messages=asking(url), model="openai"))
        else:
            task = asyncio.create_task(app.avision(url, "what?", model="openai"))
        try:
            while not half_sent.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # the client reads the first half and waits for the rest
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            release.set()
    calls = [e for e in logs if e["event"] == "llm.call"]
    assert [(e["status"], e["error"]) for e in calls] == [("error", "CancelledError")]
    assert fake.requests == []


@pytest.mark.xfail(
    sys.version_info < (3, 11),
    strict=True,
    reason="before Python 3.12 asyncio.wait_for drops a cancel that lands in the loop turn its step "
    "completes; images/fetch.py re-raises it from Task.cancelling(), which Python 3.10 lacks",
)
async def test_a_cancel_that_lands_as_the_response_arrives_is_not_lost() -> None:
    """``task.cancel()`` in the same loop turn as the response headers arrive (scheduled by a done
    callback on the fetcher's own step, registered after its wait_for's): the fetch must still end
    in CancelledError. Under load this is what made the test above flaky when it cancelled right as
    the GET arrived: the cancel was lost and the call went on to the provider."""
    import asyncio
    import threading

    from tests.fetching import fetcher

    release = threading.Event()

    def slow() -> Iterator[bytes]:
        yield png()[:20]
        release.wait(30)
        yield png()[20:]

    with FakeProvider() as server:
        url = server.serve("/slow.png", slow, content_type="image/png")
        current = asyncio.current_task()
        task = asyncio.create_task(fetcher().afetch(url))
        try:
            step = None
            while step is None:  # the fetcher's first awaited step (a Task that wait_for made)
                await asyncio.sleep(0)
                step = next((t for t in asyncio.all_tasks() if t not in (current, task)), None)
            step.add_done_callback(lambda _: task.cancel())
            release.set()  # a lost cancel lets the fetch finish (DID NOT RAISE), not hang
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            release.set()


def test_an_image_for_an_alias_that_cannot_see_is_refused_before_anything_is_fetched(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """An image part sent to a text-only alias would be a provider error at best (a wasted round
    trip, fallbacks tried) and silently dropped at worst: refused as ``vision()`` refuses it, before
    the image is fetched or a request leaves. ``vision: true`` on the alias says it can see."""
    from llmcfg import CapabilityError

    make_llm(fake, tmp_path)
    path = tmp_path / "llm_config.yaml"
    aliases = "  text: {model: openai/gpt-3.5-turbo}\n  told: {model: openai/gpt-3.5-turbo, vision: true}\n"
    path.write_text(path.read_text().replace("router:", aliases + "router:", 1))
    app = LLM(use_fake(load_config(path), fake))
    url = fake.serve("/cat.png", png(), content_type="image/png")
    assert_refused_before_sending(app, fake, asking(url), "text", CapabilityError, "does not accept images")
    assert fake.gets == []
    app.chat(messages=[{"role": "user", "content": "no image: fine"}], model="text")
    fake.reply("a cat")
    assert app.chat(messages=asking(url), model="told").text == "a cat"
    assert fake.gets == ["/cat.png"]
