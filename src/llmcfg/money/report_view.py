"""The tables ``llmcfg costs`` prints (the CLI only parses arguments and calls these).

Unknown costs are shown as ``?`` with how many calls were unpriced, never as $0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from llmcfg.money.report import Report, Totals, money_text

if TYPE_CHECKING:  # a plain report never imports the what-if's config modules
    from llmcfg.money.whatif import WhatIf

__all__ = ["print_report", "print_what_if"]

_HEADERS = (
    "requests",
    "tokens in",
    "cached in",
    "tokens out",
    "reasoning",
    "cost",
    "avg cost",
    "cache hits",
    "errors",
)


def _cells(totals: Totals) -> tuple[str, ...]:
    average = totals.average_cost_usd
    return (
        f"{totals.requests:,}",
        f"{totals.tokens_in:,}",
        f"{totals.cached_tokens:,}",
        f"{totals.tokens_out:,}",
        f"{totals.reasoning_tokens:,}",
        money_text(totals.cost_usd, totals.unpriced),
        "?" if average is None else f"${average:.6f}",
        f"{totals.cache_hit_rate:.0%}",
        f"{totals.errors + totals.blocked:,}",
    )


def _console() -> Console:
    return Console(width=max(140, Console().width))


def print_report(result: Report, log: str) -> None:
    table = Table(title=f"llm costs by {result.by}: {log}", show_footer=True)
    table.add_column(result.by, footer="total", no_wrap=True)
    for header, footer in zip(_HEADERS, _cells(result.total), strict=True):
        table.add_column(header, footer=footer, justify="right")
    for key, row in sorted(result.rows.items(), key=lambda item: -item[1].cost_usd):
        table.add_row(key, *_cells(row))
    _console().print(table)
    total = result.total
    notes = []
    if total.saved_usd:
        notes.append(f"saved by the cache: ${total.saved_usd:.4f}")
    if total.unpriced:
        notes.append(f"{total.unpriced:,} calls had no known price (cost ?)")
    if result.corrupt:
        notes.append(f"{result.corrupt:,} corrupt lines skipped")
    if notes:
        print("; ".join(notes))


def _difference(usd: float | None) -> str:
    if usd is None:
        return "?"
    if round(usd, 4) == 0:
        return "$0.0000"
    return f"{'+' if usd > 0 else '-'}${abs(usd):.4f}"


def print_what_if(result: WhatIf, log: str, other: str) -> None:
    table = Table(title=f"what if {log} had run under {other}", show_footer=True)
    unpriced = result.recorded_unpriced
    footers = (
        "total",
        "",
        "",
        f"{sum(row.calls for row in result.rows.values()):,}",
        money_text(result.recorded_usd, unpriced),
        f"${result.what_if_usd:.4f}",
        _difference(None if unpriced else result.what_if_usd - result.recorded_usd),
    )
    headers = ("alias", "what-if alias", "kind", "calls", "recorded", "what-if", "difference")
    for header, footer in zip(headers, footers, strict=True):
        table.add_column(
            header, footer=footer, justify="left" if header.endswith(("alias", "kind")) else "right"
        )
    for row in sorted(result.rows.values(), key=lambda r: -r.recorded_usd):
        table.add_row(
            row.alias,
            row.other,
            row.kind,
            f"{row.calls:,}",
            money_text(row.recorded_usd, row.recorded_unpriced),
            f"${row.what_if_usd:.4f}",
            _difference(row.difference_usd),
        )
    _console().print(table)
    apart = [
        *(
            f"{name} ({calls:,} calls): no counterpart in {other}"
            for name, calls in result.no_counterpart.items()
        ),
        *(f"{name} ({calls:,} calls): no known price in {other}" for name, calls in result.no_price.items()),
    ]
    if apart:
        print(f"not replayed (recorded ${result.skipped_recorded_usd:.4f}): " + "; ".join(apart))
    if result.corrupt:
        print(f"{result.corrupt:,} corrupt lines skipped")
