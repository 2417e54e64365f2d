"""A failed call spends nothing and holds nothing, even when the application's code that sees its
event raises (real LiteLLM over HTTP to the fake)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmcfg import LLM, BudgetExceededError, load_config
from llmcfg.calls.hooks import CallHook
from llmcfg.testing import FakeProvider

CONFIG = """
providers:
  openai: {{api_key: "${{OPENAI_API_KEY}}", api_base: "{base}"}}
models:
  mini: {{model: openai/gpt-4o-mini}}
router: {{num_retries: 0, timeout_s: 10}}
cache: {{dir: cache}}
budgets:
  daily_usd: 1.0
"""


class RaisesOnErrors(CallHook):
    def finished(self, call: Any, event: dict[str, Any]) -> None:
        if event["status"] != "ok":
            raise RuntimeError("tracing hook broke")


def ask(llm: LLM, stream: bool) -> str:
    if stream:
        return "".join(llm.stream("hi", model="mini", max_tokens=100))
    return llm.chat("hi", model="mini", max_tokens=100).text


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_a_hook_that_raises_on_a_failed_call_leaves_nothing_reserved(
    tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """The hook's error reaches the caller, but the failed call's reservation is released: it used to
    stay counted until reservation_ttl_s (15 minutes), so a tracing hook that broke on errors could
    fill a daily budget with calls that cost nothing. Its error must not carry the provider's raw
    error (which may echo the key) as its context either."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-key-0123456789abcdef")
    fake.fail(500, message="bad key sk-secret-key-0123456789abcdef", times=None)
    (tmp_path / "llm_config.yaml").write_text(CONFIG.format(base=fake.base_url))
    llm = LLM(load_config(tmp_path / "llm_config.yaml"), hooks=[RaisesOnErrors()])
    with pytest.raises(RuntimeError, match="tracing hook broke") as caught:
        ask(llm, stream)
    assert len(fake.requests) == 1
    day = llm.spend().day
    assert day is not None
    assert (day.spent_usd, day.reserved_usd) == (0.0, 0.0)
    chain, seen = caught.value, []
    while chain is not None:
        seen.append(chain)
        chain = chain.__cause__ or chain.__context__
    assert not any("sk-secret-key" in str(error) for error in seen), seen


FALLING_BACK = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
fallbacks: {mini: [gpt4o]}
budgets: {per_request_usd: 0.005}
"""


def test_estimate_cost_is_the_worst_case_the_budget_reserves(tmp_path: Path) -> None:
    """mini may fall back to gpt4o (~17x dearer), and the budget reserves gpt4o's cost for it:
    estimate_cost, the worst case "as the budget reckons it", said mini's, so a caller checking it
    against per_request_usd was told a refused call would fit."""
    (tmp_path / "llm_config.yaml").write_text(FALLING_BACK)
    llm = LLM(load_config(tmp_path / "llm_config.yaml"))
    tokens = llm.count_tokens([{"role": "user", "content": "hi"}], model="gpt4o")
    estimate = llm.estimate_cost("hi", model="mini", max_tokens=1000)
    assert estimate == pytest.approx(tokens * 2.5e-6 + 1000 * 10e-6)  # gpt4o's
    with pytest.raises(BudgetExceededError) as caught:
        llm.chat("hi", model="mini", max_tokens=1000)
    assert caught.value.estimate_usd == pytest.approx(estimate)
