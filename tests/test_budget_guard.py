"""The budget guard on its own, over both real stores (SQLite in a temporary folder, a real
redis-server): which windows a reservation lands in, the per-request limit's boundary, the error
naming the limit, the sync and async forms doing the same, spend() rows, and close()."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmcfg import BudgetExceededError, load_config
from llmcfg.money.budget.estimate import Estimate
from llmcfg.money.budget.guard import BudgetGuard
from llmcfg.money.budget.redis_store import RedisStore
from llmcfg.money.budget.stores import BudgetStore, LocalStore, Refusal, WindowTotals
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
EVERY_KIND = ("chat", "vision", "ocr", "image", "embed")
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


def windows_of(alias: str, kind: str) -> list[str]:
    return sorted(
        f"{scope}:{period}"
        for scope in ("total", f"alias={alias}", f"kind={kind}")
        for period in (f"day:{DAY}", f"month:{MONTH}")
    )


def test_a_reservation_lands_in_the_windows_of_its_alias_and_kind(
    make_guard: Callable[[], BudgetGuard],
) -> None:
    guard = make_guard()
    reservation = guard.reserve("mini", "chat", 0.4)
    assert (reservation.alias, reservation.amount) == ("mini", 0.4)
    assert sorted(reservation.windows) == windows_of("mini", "chat")
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
        assert sorted(first.windows) == windows_of("mini", "chat")
        embed = await guard.areserve("gpt4o", "embed", 0.1)  # the kind's own windows
        assert sorted(embed.windows) == windows_of("gpt4o", "embed")
        await guard.arelease(embed)
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


class Moment:
    """A clock the test moves."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def __call__(self) -> datetime:
        return self.when


def test_the_windows_change_exactly_at_midnight_and_follow_a_clock_set_back(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    clock = Moment(datetime(2026, 11, 25, 23, 59, 59, tzinfo=timezone.utc))
    guard = BudgetGuard(load_config(write_config(CONFIG)), clock=clock, store=LocalStore(str(tmp_path / "l")))
    assert f"alias=mini:day:{DAY}" in guard.reserve("mini", "chat", 0.1).windows
    clock.when = datetime(2026, 11, 26, 0, 0, 0, tzinfo=timezone.utc)
    assert "alias=mini:day:2026-11-26" in guard.reserve("mini", "chat", 0.1).windows
    clock.when = datetime(2026, 11, 25, 23, 59, 0, tzinfo=timezone.utc)  # the system clock corrected back
    assert f"alias=mini:day:{DAY}" in guard.reserve("mini", "chat", 0.1).windows
    clock.when = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)
    assert "total:month:2026-12" in guard.reserve("mini", "chat", 0.1).windows


def test_spend_lists_every_kind_and_windows_with_only_reservations_or_unpriced_calls(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    limits = "\n".join(f"    {kind}: {{daily_usd: 9.0}}" for kind in EVERY_KIND)
    text = CONFIG.replace("  per_kind: {embed: {monthly_usd: 3.0}}", f"  per_kind:\n{limits}")
    text = text.replace(
        "  gpt4o: {model: openai/gpt-4o}\n",
        "  gpt4o: {model: openai/gpt-4o}\n  other: {model: openai/gpt-4o}\n",
    )
    guard = BudgetGuard(
        load_config(write_config(text)), clock=lambda: NOW, store=LocalStore(str(tmp_path / "l"))
    )
    guard.reserve("gpt4o", "chat", 0.2)  # held, nothing spent
    guard.settle(guard.reserve("other", "vision", 0.1), None)  # an unpriced call, nothing spent
    spend = guard.spend()
    assert {key for key in spend if key.startswith("kind=") and ":day:" in key} == {
        f"kind={kind}:day:{DAY}" for kind in EVERY_KIND
    }
    assert spend[f"alias=other:month:{MONTH}"].unpriced_calls == 1
    row = spend[f"alias=gpt4o:day:{DAY}"]
    assert (row.key, row.scope, row.period, row.spent_usd, row.limit_usd, row.unpriced_calls) == (
        f"alias=gpt4o:day:{DAY}",
        "alias=gpt4o",
        "day",
        0.0,
        None,
        0,
    )
    assert row.reserved_usd == pytest.approx(0.2)
    assert row.resets_at == datetime(2026, 11, 26, tzinfo=timezone.utc)
    assert spend[f"total:month:{MONTH}"].resets_at == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert f"alias=mini:month:{MONTH}" not in spend


class MemoryStore:
    """An application's own ledger with only the sync methods (the protocol's minimum)."""

    def __init__(self) -> None:
        self.held: dict[str, float] = {}
        self.threads: list[str] = []

    def reserve(
        self,
        reservation_id: str,
        windows: list[str],
        limits: dict[str, float],
        amount: float,
        now: float,
        ttl_s: float,
    ) -> Refusal | None:
        self.threads.append(threading.current_thread().name)
        if sum(self.held.values()) + amount > min(limits.values(), default=float("inf")):
            return Refusal(next(iter(limits)), min(limits.values()), sum(self.held.values()))
        self.held[reservation_id] = amount
        return None

    def settle(self, reservation_id: str, windows: list[str], actual: float | None) -> None:
        self.threads.append(threading.current_thread().name)
        self.held.pop(reservation_id, None)

    def release(self, reservation_id: str) -> None:
        self.threads.append(threading.current_thread().name)
        self.held.pop(reservation_id, None)

    def totals(self, windows: list[str], now: float) -> dict[str, WindowTotals]:
        return {window: WindowTotals(0.0, sum(self.held.values())) for window in windows}

    def close(self) -> None:
        pass


def test_a_store_without_async_forms_serves_async_calls_from_a_worker_thread(
    write_config: Callable[[str], Path],
) -> None:
    store = MemoryStore()
    guard = BudgetGuard(load_config(write_config(CONFIG)), clock=lambda: NOW, store=store)

    async def calls() -> None:
        first = await guard.areserve("mini", "chat", 0.5)
        second = await guard.areserve("mini", "chat", 0.5)
        with pytest.raises(BudgetExceededError, match=r"per_alias\.mini\.daily_usd"):
            await guard.areserve("mini", "chat", 0.1)
        await guard.asettle(first, 0.4)
        await guard.arelease(second)

    asyncio.run(calls())
    assert store.held == {}
    assert len(store.threads) == 5
    assert threading.main_thread().name not in store.threads  # never on the event loop's thread


def test_the_redis_store_is_opened_from_the_config(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("LEDGER_URL", redis_url)
    text = CONFIG.replace("budgets:\n", 'budgets:\n  store: redis\n  redis_url: "${LEDGER_URL}"\n')
    guard = BudgetGuard(load_config(write_config(text)), clock=lambda: NOW)
    assert isinstance(guard.store, RedisStore)
    assert guard.store is guard.store  # opened once
    assert guard.store.url == redis_url
    guard.close()


def test_the_redis_store_defaults_to_the_local_redis(write_config: Callable[[str], Path]) -> None:
    text = CONFIG.replace("budgets:\n", "budgets:\n  store: redis\n")
    guard = BudgetGuard(load_config(write_config(text)), clock=lambda: NOW)
    assert isinstance(guard.store, RedisStore)  # opening does not connect
    assert guard.store.url == "redis://127.0.0.1:6379/0"
    guard.close()


def test_a_refusal_carries_what_the_estimate_assumed(make_guard: Callable[[], BudgetGuard]) -> None:
    """A plain number has no basis; an Estimate's basis is in the error and its message, whichever
    limit refuses it (per request or a window's)."""
    guard = make_guard()
    with pytest.raises(BudgetExceededError) as caught:
        guard.reserve("gpt4o", "chat", 0.6)
    assert caught.value.basis == ""
    assert str(caught.value) == (
        "budget per_request_usd would be exceeded: spent $0.000000 of $0.500000, "
        "this call may cost up to $0.600000"
    )
    assumed = "4096 out (budgets.assume_output_tokens)"
    with pytest.raises(BudgetExceededError) as caught:
        guard.reserve("gpt4o", "chat", Estimate(0.6, assumed))
    assert (caught.value.limit_name, caught.value.basis) == ("per_request_usd", assumed)
    guard.settle(guard.reserve("mini", "chat", 0.5), 0.6)
    with pytest.raises(BudgetExceededError) as caught:
        guard.reserve("mini", "chat", Estimate(0.45, assumed))
    assert (caught.value.limit_name, caught.value.basis) == ("per_alias.mini.daily_usd", assumed)
    assert str(caught.value).endswith(f"this call may cost up to $0.450000 (estimate: {assumed})")


def test_spend_of_an_empty_ledger_lists_the_totals_and_the_limits(
    make_guard: Callable[[], BudgetGuard],
) -> None:
    spend = make_guard().spend()
    assert sorted(spend) == sorted(
        [f"total:day:{DAY}", f"total:month:{MONTH}", f"alias=mini:day:{DAY}", f"kind=embed:month:{MONTH}"]
    )
    assert spend[f"alias=mini:day:{DAY}"].limit_usd == 1.0
    assert spend[f"total:day:{DAY}"].limit_usd is None


def test_the_default_clock_is_utc(write_config: Callable[[str], Path], tmp_path: Path) -> None:
    """The day and month windows turn at midnight UTC whatever the machine's time zone."""
    guard = BudgetGuard(load_config(write_config(CONFIG)), store=LocalStore(str(tmp_path / "l")))
    assert guard.clock().utcoffset() == timedelta(0)
    spend = guard.spend()
    assert all(spend[key].resets_at.utcoffset() == timedelta(0) for key in spend)
