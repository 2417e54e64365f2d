"""What every command prints the same way: money, the cost line of a call, and one rich console
on stderr that progress bars and event lines share (so an event line never lands on a bar)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llmcfg.config.schema import Config

__all__ = ["UsageError", "cost_line", "load_config", "money", "stderr_console", "table_width"]

_stderr_console: Console | None = None


class UsageError(Exception):
    """The command line itself is wrong (an empty prompt, two config files): like argparse's own
    errors it is one line on stderr and exit code 2. Not an ``LLMCfgError``: the library never
    raises it."""


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """``llmcfg.config.load.load_config``, imported on first use: building the schema's pydantic
    models is most of the CLI's start (~0.1 s), and a command that reads no config (``costs --log``,
    ``log``, ``cache``) or reads its log first (``costs --what-if``) should not wait for it."""
    from llmcfg.config.load import load_config as load

    return load(path)


def money(value: float | None, digits: int = 3) -> str:
    return "?" if value is None else f"${value:.{digits}f}"


def cost_line(result: Any) -> str:
    """``[alias · model · in+out tokens · $cost (source) · ms]`` for one call, on stderr."""
    cached = f" · cached (saved {money(result.saved_usd, 6)})" if result.cached else ""
    return (
        f"[{result.alias} · {result.model} · {result.tokens_in}+{result.tokens_out} tokens · "
        f"{money(result.cost_usd, 6)} ({result.cost_source}) · {result.latency_ms:.0f} ms{cached}]"
    )


def stderr_console() -> Console:
    """The process's one console on stderr: rich prints through it above a live progress bar."""
    global _stderr_console
    if _stderr_console is None:
        from rich.console import Console

        _stderr_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _stderr_console


def table_width(wide: int) -> int:
    """The terminal's width; ``wide`` when stdout is no terminal and $COLUMNS is unset (a pipe or a
    file has no width to fit, and cut columns would lose data there)."""
    from rich.console import Console

    if not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        return wide
    return Console().width


def fitted_table(
    title: str,
    headers: list[str],
    rows: list[list[str]],
    width: int,
    *,
    drop_first: tuple[str, ...] = (),
    fold: tuple[str, ...] = (),
) -> tuple[Any, list[str]]:
    """A rich table that fits ``width`` columns, and the headers it had to leave out.

    rich alone squeezes every column of a too-wide table, down to one letter or out of sight. Here
    each column keeps its natural width; when the sum does not fit, the ``fold`` columns (long model
    strings, chains) wrap a little, then the ``drop_first`` columns go, in that order, and then the
    ``fold`` columns wrap further, never below
    ``_MIN_FOLD`` characters (or the header's width). What still does not fit wraps as rich does.
    """
    from rich.table import Table

    def natural(index: int) -> int:
        return max([len(headers[index]), *(len(row[index]) for row in rows)])

    kept = list(range(len(headers)))
    widths = {index: natural(index) for index in kept}

    def total() -> int:
        return sum(widths[index] for index in kept) + 2 * (len(kept) - 1)

    def squeeze(floor: int) -> None:
        for name in fold:
            index = headers.index(name)
            if index in kept and total() > width:
                least = max(floor, len(headers[index]))
                widths[index] = max(min(least, widths[index]), widths[index] - (total() - width))

    squeeze(_COMFORTABLE_FOLD)  # first wrap the longest cells a little,
    dropped = []
    for name in drop_first:  # then leave out what matters least,
        if total() <= width:
            break
        kept.remove(headers.index(name))
        dropped.append(name)
    squeeze(_MIN_FOLD)  # then wrap harder
    table = Table(
        title=title,
        box=None,
        padding=(0, 1),
        pad_edge=False,
        title_justify="left",
        header_style="bold underline",
    )
    for index in kept:
        table.add_column(headers[index], width=widths[index], overflow="fold")
    for row in rows:
        table.add_row(*(row[index] for index in kept))
    return table, dropped


_COMFORTABLE_FOLD = 24
_MIN_FOLD = 12
