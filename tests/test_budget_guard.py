"""The budget guard on its own, over both real stores (SQLite in a temporary folder, a real
redis-server): which windows a reservation lands in, the per-request limit's boundary, the error
naming the limit, the sync and async forms doing the same, spend() rows, and close()."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmcfg import BudgetExceededError, load_config
from llmcfg.money.budget.guard import BudgetGuard
from llmcfg.money.budget.redis_store import RedisStore
from llmcfg.money.budget.stores import BudgetStore, LocalStore
from tests.redis_server import redis_server

CONFIG = """
providers:
  openai: {api_key: "${OPENAI_API_KEY:-k}"}
models:
  mini: {model: openai/gpt-4o-mini}
  gpt4o: {model: openai/gpt-4o}
cache: {dir: cache}
budgets:
  per_request_usd: 0.5
  per_alias: {mini: {daily_usd: 1.0}}
  per_kind: {embed: {monthly_usd: 3.0}}
"""
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
DAY, MONTH = "2026-11-25", "2026-11"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["local", "redis"])
def make_guard(
    request: pytest.FixtureRequest, write_config: Callable[[str], Path], tmp_path: Path
) -> Callable[[], BudgetGuard]:
    config = load_config(write_config(CONFIG))
    if request.param == "local":
        store: BudgetStore = LocalStore(str(tmp_path / "ledger"))
    else:
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        store = RedisStore(url, prefix="guard-test")
    return lambda: BudgetGuard(config, clock=lambda: NOW, store=store)


def test_a_reservation_lands_in_the_windows_of_its_alias_and_kind(
    make_guard: Callable[[], BudgetGuard],
) -> None:
    guard = make_guard()
    reservation = guard.reserve("mini", "chat", 0.4)
    assert (reservation.alias, reservation.amount) == ("mini", 0.4)
    assert sorted(reservation.windows) == sorted(
        f"{scope}:{period}"
        for scope in ("total", "alias=mini", "kind=chat")
        for period in (f"day:{DAY}", f"month:{MONTH}")
    )
    guard.settle(reservation, 0.3)
    spend = guard.spend()
    assert spend[f"alias=mini:day:{DAY}"].spent_usd == pytest.approx(0.3)
    assert spend[f"kind=chat:month:{MONTH}"].spent_usd == pytest.approx(0.3)
    assert f"alias=gpt4o:day:{DAY}" not in spend  # no limit, nothing spent: not listed
    assert spend[f"total:day:{DAY}"].spent_usd == pytest.approx(0.3)  # the total always is
    assert spend[f"kind=embed:month:{MONTH}"].limit_usd == 3.0  # a limit: listed with nothing spent


def test_the_alias_limit_refuses_and_names_itself(make_guard: Callable[[], BudgetGuard]) -> None:
    guard = make_guard()
    guard.settle(guard.reserve("mini", "chat", 0.5), 0.5)
    held = guard.reserve("mini", "chat", 0.3)
    with pytest.raises(BudgetExceededError) as caught:
        guard.reserve("mini", "chat", 0.25)
    error = caught.value
    assert (error.limit_name, error.limit_usd, error.estimate_usd) == ("per_alias.mini.daily_usd", 1.0, 0.25)
    assert error.spent_usd == pytest.approx(0.8)  # spent plus reserved
    guard.release(held)
    assert guard.reserve("mini", "chat", 0.5).alias == "mini"  # released: exactly fills the limit
    assert guard.reserve("gpt4o", "chat", 0.5).alias == "gpt4o"  # another alias: not that limit


def test_the_per_request_limit_is_inclusive_and_checked_before_the_store(
    make_guard: Callable[[], BudgetGuard],
) -> None:
    guard = make_guard()
    assert guard.reserve("gpt4o", "chat", 0.5).amount == 0.5  # exactly the limit: allowed
    with pytest.raises(BudgetExceededError) as caught:
        guard.reserve("gpt4o", "chat", 0.5000001)
    error = caught.value
    assert (error.limit_name, error.spent_usd, error.limit_usd) == ("per_request_usd", 0.0, 0.5)
    assert error.estimate_usd == pytest.approx(0.5000001)
    assert guard.spend()[f"total:day:{DAY}"].reserved_usd == pytest.approx(0.5)  # the refused one not held


def test_the_async_forms_do_what_the_sync_ones_do(make_guard: Callable[[], BudgetGuard]) -> None:
    guard = make_guard()

    async def calls() -> None:
        first = await guard.areserve("mini", "chat", 0.4)
        assert (first.alias, first.amount) == ("mini", 0.4)
        await guard.asettle(first, 0.35)
        second = await guard.areserve("mini", "chat", 0.5)
        with pytest.raises(BudgetExceededError, match=r"per_alias\.mini\.daily_usd"):
            await guard.areserve("mini", "chat", 0.2)
        await guard.arelease(second)
        unpriced = await guard.areserve("mini", "chat", 0.1)
        await guard.asettle(unpriced, None)

    asyncio.run(calls())
    row = guard.spend()[f"alias=mini:day:{DAY}"]
    assert (row.spent_usd, row.reserved_usd, row.unpriced_calls) == (pytest.approx(0.35), 0.0, 1)


def descriptors_on(path: str) -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}").startswith(path)
    return count


def test_close_lets_go_of_the_ledger_file(write_config: Callable[[str], Path], tmp_path: Path) -> None:
    guard = BudgetGuard(load_config(write_config(CONFIG)), clock=lambda: NOW)
    guard.settle(guard.reserve("mini", "chat", 0.1), 0.1)
    ledger = str(tmp_path / "cache" / "budget" / "budget.sqlite3")  # under cache.dir, beside the YAML
    assert descriptors_on(ledger) >= 1
    guard.close()
    assert descriptors_on(ledger) == 0
    assert BudgetGuard(load_config(write_config(CONFIG)), clock=lambda: NOW).spend()[
        f"total:day:{DAY}"
    ].spent_usd == pytest.approx(0.1)
