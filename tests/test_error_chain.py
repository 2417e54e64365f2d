"""No key in any output, exception chains included: a provider answers 401 with a body that echoes
the key, and the whole formatted traceback (what ``logging.exception`` and error trackers print)
must not contain it, whether the key was configured or only looks like one."""

from __future__ import annotations

import io
import logging
import traceback
from pathlib import Path

import pytest

from llmcfg import LLM, AuthenticationError, load_config
from llmcfg.routing.errors import UpstreamError
from llmcfg.testing import FakeProvider

CONFIGURED = "plainsecret-0123456789abcdef"  # no known key shape: only the configured-key scrub catches it
SHAPED = "sk-proj-unconfigured0123456789ABCDEF"  # never configured: only the key-shape scrub catches it


@pytest.fixture
def llm(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LLM:
    monkeypatch.setenv("LOCAL_KEY", CONFIGURED)
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        f"providers:\n  local: {{kind: openai, api_base: '{fake.base_url}', api_key: '${{LOCAL_KEY}}'}}\n"
        "models:\n  m: {model: local/my-model, price: {input_per_mtok: 1, output_per_mtok: 1}}\n"
        "router: {num_retries: 0}\n"
    )
    return LLM(load_config(path))


def _echo_401(fake: FakeProvider) -> None:
    fake.fail(
        401,
        message=f"Incorrect API key provided: {CONFIGURED}. Also seen: {SHAPED} (Bearer {CONFIGURED})",
        code="invalid_api_key",
        times=None,
    )


def _everything_printed(error: BaseException) -> str:
    """The traceback as printed, logging.exception's output, and repr/str of the chain."""
    stream = io.StringIO()
    logger = logging.getLogger("test_error_chain")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        try:
            raise error
        except BaseException:
            logger.exception("call failed")
            formatted = traceback.format_exc()
    finally:
        logger.removeHandler(handler)
    chain, seen = [], error
    while seen is not None:
        chain += [repr(seen), str(seen), repr(vars(seen))]
        seen = seen.__cause__
    return "\n".join([formatted, stream.getvalue(), *chain])


def _assert_scrubbed(error: BaseException) -> None:
    printed = _everything_printed(error)
    assert CONFIGURED not in printed
    assert SHAPED not in printed
    assert "sk-proj" not in printed
    assert isinstance(error.__cause__, UpstreamError)  # not LiteLLM's exception
    assert error.__suppress_context__
    assert error.__cause__.__cause__ is None
    assert error.__cause__.__traceback__ is None
    assert "AuthenticationError" in printed  # what failed is still said
    assert "Incorrect API key provided: [redacted]" in printed


def test_chat_401_echoing_the_key(llm: LLM, fake: FakeProvider) -> None:
    _echo_401(fake)
    with pytest.raises(AuthenticationError) as caught:
        llm.chat("hi", model="m")
    _assert_scrubbed(caught.value)


async def test_achat_401_echoing_the_key(llm: LLM, fake: FakeProvider) -> None:
    _echo_401(fake)
    with pytest.raises(AuthenticationError) as caught:
        await llm.achat("hi", model="m")
    _assert_scrubbed(caught.value)


def test_stream_401_echoing_the_key(llm: LLM, fake: FakeProvider) -> None:
    _echo_401(fake)
    with pytest.raises(AuthenticationError) as caught:
        for _ in llm.stream("hi", model="m"):
            pass
    _assert_scrubbed(caught.value)


def test_embed_401_echoing_the_key(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_KEY", CONFIGURED)
    path = tmp_path / "llm_config.yaml"
    path.write_text(
        f"providers:\n  openai: {{api_base: '{fake.base_url}', api_key: '${{LOCAL_KEY}}'}}\n"
        "models:\n  e: {model: openai/text-embedding-3-small}\nrouter: {num_retries: 0}\n"
    )
    _echo_401(fake)
    with pytest.raises(AuthenticationError) as caught:
        LLM(load_config(path)).embed("hi", model="e")
    _assert_scrubbed(caught.value)
