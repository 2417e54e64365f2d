"""Which budget windows a call falls in, and their limits, in the configured time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from llmcfg.config.schema import BudgetConfig

__all__ = ["Window", "windows_for"]


class Window:
    """A spend bucket such as ``total:day:2026-11-25`` or ``alias=gpt4o:month:2026-11``."""

    __slots__ = ("key", "limit", "limit_name", "period", "resets_at", "scope")

    def __init__(
        self, key: str, limit: float | None, limit_name: str, scope: str, period: str, resets_at: datetime
    ) -> None:
        self.key = key
        self.limit = limit
        self.limit_name = limit_name
        self.scope = scope
        self.period = period
        self.resets_at = resets_at


def _next_day(local: datetime) -> datetime:
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # add a day on the calendar, not 24 hours: a day with a DST change is 23 or 25 hours long
    return (start + timedelta(days=1, hours=12)).replace(hour=0, tzinfo=local.tzinfo)


def _next_month(local: datetime) -> datetime:
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def windows_for(config: BudgetConfig, alias: str, kind: str, now: datetime) -> list[Window]:
    """Every window the call is counted in (limited or not: spend is recorded in all)."""
    local = now.astimezone(ZoneInfo(config.timezone))
    periods = (
        ("day", local.strftime("%Y-%m-%d"), "daily_usd", _next_day(local)),
        ("month", local.strftime("%Y-%m"), "monthly_usd", _next_month(local)),
    )
    scopes = (
        ("total", "", config),
        (f"alias={alias}", f"per_alias.{alias}.", config.per_alias.get(alias)),
        (f"kind={kind}", f"per_kind.{kind}.", config.per_kind.get(kind)),  # type: ignore[call-overload]
    )
    return [
        Window(
            f"{scope}:{period}:{stamp}",
            getattr(limits, field) if limits else None,
            f"{prefix}{field}",
            scope,
            period,
            resets,
        )
        for scope, prefix, limits in scopes
        for period, stamp, field, resets in periods
    ]
