"""Which budget windows a call falls in, and their limits, in the configured time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from llmcfg.config.schema import BudgetConfig

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
    scopes = (
        ("total", "", config),
        (f"alias={alias}", f"per_alias.{alias}.", config.per_alias.get(alias)),
        (f"kind={kind}", f"per_kind.{kind}.", config.per_kind.get(kind)),  # type: ignore[call-overload]
    )
    return [
        Window(f"{scope}:{period}:{stamp}", getattr(limits, field) if limits else None, f"{prefix}{field}")
        for scope, prefix, limits in scopes
        for period, stamp, field in (("day", day, "daily_usd"), ("month", month, "monthly_usd"))
    ]
