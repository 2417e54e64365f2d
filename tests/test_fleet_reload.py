"""Hot reload: ``llm.reload()`` swaps a fully validated config at once; a broken file keeps the old
one serving; calls in flight finish on the old config; stats, caches and budgets survive; the file
watcher and SIGHUP reload too; each reload emits ``llm.config_reloaded``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, load_config
from llmcfg.calls.hooks import CallHook
from llmcfg.config.load import parse_config
from llmcfg.exceptions import ConfigError
from llmcfg.reload import reload_on_sighup
from llmcfg.testing import FakeProvider

CONFIG = """
version: 1
providers:
  openai: {{api_base: "{base}", api_key: "${{RELOAD_KEY:-reload-test}}"}}
models:
  mini: {{model: openai/{mini}}}
  {extra}: {{model: openai/text-embedding-3-small}}
presets:
  text: {{fast: mini, balanced: mini, best: mini}}
cache: {{dir: cache}}
budgets: {{daily_usd: 5}}
"""


def write(path: Path, base: str, mini: str = "gpt-4o-mini", extra: str = "gone") -> Path:
    path.write_text(CONFIG.format(base=base, mini=mini, extra=extra))
    return path


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_reload_swaps_the_config_keeps_state_and_says_what_changed(
    tmp_path: Path, fake: FakeProvider, events: list[dict[str, Any]]
) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    mine = CallHook()
    llm = LLM(load_config(path), hooks=[mine])
    assert llm.chat("hi", quality="fast").model == "openai/gpt-4o-mini"
    caches = llm.caches
    write(path, fake.base_url, mini="gpt-4o", extra="added")
    change = llm.reload()
    assert (change.added, change.removed, change.changed) == (("added",), ("gone",), ("mini",))
    assert llm.chat("hi", quality="fast").model == "openai/gpt-4o"
    assert fake.requests[-1].model == "gpt-4o"
    assert llm.usage_stats()["total"]["requests"] == 2  # counted across the reload
    assert llm.caches is caches
    assert llm.hooks[0] is mine  # the application's hooks stay
    assert len(llm.hooks) == 2  # and one OTel hook, not two
    reloaded = [e for e in events if e["event"] == "llm.config_reloaded"]
    assert reloaded == [
        {
            "event": "llm.config_reloaded",
            "log_level": "info",
            "source": str(path),
            "aliases_added": ["added"],
            "aliases_removed": ["gone"],
            "aliases_changed": ["mini"],
        }
    ]


def test_budget_spend_survives_a_reload(tmp_path: Path, fake: FakeProvider) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    llm = LLM(load_config(path))
    fake.reply("x", tokens_in=100_000, tokens_out=0, times=1)
    llm.chat("hi", quality="fast")
    spent = next(v["spent_usd"] for k, v in llm.spend().items() if k.startswith("total:day"))
    assert spent == pytest.approx(100_000 * 0.15e-6)
    write(path, fake.base_url, extra="other")
    llm.reload()
    after = next(v["spent_usd"] for k, v in llm.spend().items() if k.startswith("total:day"))
    assert after == pytest.approx(spent)


def test_a_broken_file_is_refused_and_the_old_config_keeps_serving(
    tmp_path: Path, fake: FakeProvider
) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    llm = LLM(load_config(path))
    config = llm.config
    path.write_text(path.read_text().replace("fast: mini", "fast: mimi"))
    with pytest.raises(
        ConfigError, match=r"presets.text.fast: unknown alias 'mimi' \(did you mean 'mini'\?\)"
    ):
        llm.reload()
    assert llm.config is config
    assert llm.chat("still here", quality="fast").text == "ok"


def test_a_call_in_flight_finishes_on_the_old_config(tmp_path: Path, fake: FakeProvider) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    llm = LLM(load_config(path))
    llm.chat("warm up", quality="fast")  # the Router exists before the slow call
    fake.delay(1.0, times=1)
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(llm.chat("slow", quality="fast")))
    slow.start()
    wait_for(lambda: len(fake.requests) == 2)  # the slow call is at the provider
    write(path, fake.base_url, mini="gpt-4o")
    llm.reload()
    fresh = llm.chat("after", quality="fast")
    slow.join(timeout=30)
    assert results[0].model == "openai/gpt-4o-mini"
    assert fresh.model == "openai/gpt-4o"


def test_watch_reloads_when_the_file_changes(tmp_path: Path, fake: FakeProvider) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    llm = LLM(load_config(path), watch=True)
    try:
        time.sleep(0.3)  # the watcher is up
        write(path, fake.base_url, mini="gpt-4o")
        wait_for(lambda: llm.config.models["mini"].model == "openai/gpt-4o")
        path.write_text("version: [broken")  # refused, logged; the last good config serves
        time.sleep(1.0)
        assert llm.config.models["mini"].model == "openai/gpt-4o"
    finally:
        llm.stop_watching()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")
def test_sighup_reloads_inside_a_long_running_command(tmp_path: Path, fake: FakeProvider) -> None:
    path = write(tmp_path / "llm_config.yaml", fake.base_url)
    llm = LLM(load_config(path))
    write(path, fake.base_url, mini="gpt-4o")
    with reload_on_sighup(llm):
        os.kill(os.getpid(), signal.SIGHUP)
        wait_for(lambda: llm.config.models["mini"].model == "openai/gpt-4o")


def test_an_llm_not_made_from_a_file_cannot_reload(fake: FakeProvider, tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(base=fake.base_url, mini="gpt-4o-mini", extra="x"))
    with pytest.raises(ConfigError, match="nothing to reload"):
        LLM(config).reload()


def test_an_llm_made_with_use_fake_stays_on_the_fake_after_a_reload(
    tmp_path: Path, fake: FakeProvider
) -> None:
    """use_fake rewrites the config in memory; a reload reads the file again. The rewrite (fake
    address, test keys, the temporary cache/log/ledger) is done again on the reloaded config, so a
    test's hot reload never points its calls at the real provider or the real cost log."""
    from llmcfg.testing import use_fake

    path = write(tmp_path / "llm_config.yaml", "https://api.openai.example/v1")  # the real address
    llm = LLM(use_fake(load_config(path), fake))
    isolated_log = llm.config.logging.cost_log
    llm.chat("before", quality="fast")
    write(path, "https://api.openai.example/v1", mini="gpt-4o", extra="added")
    llm.reload()
    sent = len(fake.requests)
    assert llm.chat("after", quality="fast").model == "openai/gpt-4o"
    assert len(fake.requests) == sent + 1  # the fake answered, nothing went elsewhere
    assert llm.config.logging.cost_log == isolated_log  # the same temporary log, not ./llm_costs.jsonl
    assert not (tmp_path / "cache").exists()  # nor the real cache
    llm.reload()  # and again
    assert llm.config.providers["openai"].api_base == fake.base_url_for("openai")
