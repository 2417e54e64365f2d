"""Which budget windows a call falls in, and their limits, in the configured time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from llmcfg.schema import BudgetConfig

__all__ = ["Window", "windows_for"]


class Window:
    """A spend bucket such as ``total:day:2026-11-25`` or ``alias=gpt4o:month:2026-11``."""

    __slots__ = ("key", "limit", "limit_name")

    def __init__(self, key: str, limit: float | None, limit_name: str) -> None:
        self.key = key
        self.limit = limit
        self.limit_name = limit_name


def windows_for(config: BudgetConfig, alias: str, kind: str, now: datetime) -> list[Window]:
    """Every window the call is counted in (limited or not: spend is recorded in all)."""
    local = now.astimezone(ZoneInfo(config.timezone))
    day, month = local.strftime("%Y-%m-%d"), local.strftime("%Y-%m")
    alias_limits = config.per_alias.get(alias)
    kind_limits = config.per_kind.get(kind)  # type: ignore[call-overload]
    return [
        Window(f"total:day:{day}", config.daily_usd, "daily_usd"),
        Window(f"total:month:{month}", config.monthly_usd, "monthly_usd"),
        Window(
            f"alias={alias}:day:{day}",
            alias_limits.daily_usd if alias_limits else None,
            f"per_alias.{alias}.daily_usd",
        ),
        Window(
            f"alias={alias}:month:{month}",
            alias_limits.monthly_usd if alias_limits else None,
            f"per_alias.{alias}.monthly_usd",
        ),
        Window(
            f"kind={kind}:day:{day}",
            kind_limits.daily_usd if kind_limits else None,
            f"per_kind.{kind}.daily_usd",
        ),
        Window(
            f"kind={kind}:month:{month}",
            kind_limits.monthly_usd if kind_limits else None,
            f"per_kind.{kind}.monthly_usd",
        ),
    ]
