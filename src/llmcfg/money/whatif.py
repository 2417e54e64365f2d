"""``llmcfg costs --what-if other.yaml``: last month's traffic, priced under another config.

The cost log holds each call's token counts (input, cached input, output, reasoning) and images. A
call is replayed on the alias the other config would have used: the same preset and quality when the
call asked by quality (``text/balanced`` -> whatever ``balanced`` is there), else the alias of the
same name. Costs are linear in the counts, so the log is summed per (alias, request, kind, image
size, quality) in one streamed pass and each sum is priced once. Calls whose alias has no
counterpart, or whose counterpart has no known price, are counted apart, never priced at $0.
Reads prices from ``money.prices`` (LiteLLM's table as a file): never imports litellm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from llmcfg.money.logscan import PendingScan, Scan, Totals

if TYPE_CHECKING:  # the config's modules (and cost, which needs them) are imported when a replay is
    # priced: the scan is started first, so the workers are forked before the schema is built
    from llmcfg.config.aliases import AliasInfo
    from llmcfg.config.schema import Config

__all__ = ["WhatIf", "WhatIfRow", "counterpart", "replay", "start_scan", "what_if"]

_GROUPED = ("alias", "requested", "kind", "size", "quality", "status")
_KEY = attrgetter(*_GROUPED)
# what a replay reads: the group and the counts it prices (each field decoded costs time)
_READS = (*_GROUPED, "tokens_in", "tokens_out", "cached_tokens", "cache_write_tokens", "images", "cost_usd")


@dataclass
class WhatIfRow:
    """Calls of one alias and kind, and what they cost as recorded and under the other config."""

    alias: str
    other: str
    kind: str
    calls: int = 0
    recorded_usd: float = 0.0
    recorded_unpriced: int = 0  # replayed calls whose recorded cost is unknown
    what_if_usd: float = 0.0

    @property
    def difference_usd(self) -> float | None:
        """What-if minus recorded; None when a recorded cost is unknown (the difference would lie)."""
        return None if self.recorded_unpriced else self.what_if_usd - self.recorded_usd


@dataclass
class WhatIf:
    rows: dict[tuple[str, str, str], WhatIfRow] = field(default_factory=dict)
    no_counterpart: dict[str, int] = field(default_factory=dict)  # alias or preset -> calls
    no_price: dict[str, int] = field(default_factory=dict)  # the other config's alias -> calls
    skipped_recorded_usd: float = 0.0  # what the calls counted apart cost as recorded
    lines: int = 0
    corrupt: int = 0

    @property
    def recorded_usd(self) -> float:
        return sum(row.recorded_usd for row in self.rows.values())

    @property
    def what_if_usd(self) -> float:
        return sum(row.what_if_usd for row in self.rows.values())

    @property
    def recorded_unpriced(self) -> int:
        return sum(row.recorded_unpriced for row in self.rows.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": [
                {
                    "alias": row.alias,
                    "what_if_alias": row.other,
                    "kind": row.kind,
                    "calls": row.calls,
                    "recorded_usd": row.recorded_usd,
                    "recorded_unpriced": row.recorded_unpriced,
                    "what_if_usd": row.what_if_usd,
                    "difference_usd": row.difference_usd,
                }
                for row in self.rows.values()
            ],
            "recorded_usd": self.recorded_usd,
            "what_if_usd": self.what_if_usd,
            "no_counterpart": self.no_counterpart,
            "no_price": self.no_price,
            "skipped_recorded_usd": self.skipped_recorded_usd,
            "lines": self.lines,
            "corrupt_lines": self.corrupt,
        }


def counterpart(other: Config, alias: str | None, requested: str | None) -> str | None:
    """The alias ``other`` would have used for a call that asked for ``requested``."""
    from llmcfg.config.schema import QUALITIES

    if requested and "/" in requested:
        kind, _, quality = requested.partition("/")
        if quality in QUALITIES:
            if kind == "ocr" and other.ocr.presets is not None:
                own = getattr(other.ocr.presets, quality, None)
                if own is not None:
                    return str(own)
            presets = getattr(other.presets, "vision" if kind == "ocr" else kind, None)
            chosen = getattr(presets, quality, None) if presets is not None else None
            return str(chosen) if chosen is not None else None
    for name in (requested, alias):
        if name and name in other.models:
            return name
    return None


def _price(info: AliasInfo, kind: str, size: str | None, quality: str | None, sums: Totals) -> float | None:
    from llmcfg.money.cost import image_cost, token_cost

    if kind == "image":
        return image_cost(info, size, quality, sums.images, None, None).usd
    return token_cost(
        info,
        sums.tokens_in,
        sums.tokens_out,
        cached_in=sums.cached_tokens,
        cache_write_in=sums.cache_write_tokens,
    ).usd


def start_scan(log: str | Path, *, since: float | None = None) -> PendingScan:
    """The scan a replay needs, started now (in worker processes for a big log), so the caller can
    load the other config meanwhile; ``replay(pending.result(), other)`` prices it."""
    return PendingScan(log, _KEY, since, _READS)


def what_if(log: str | Path, other: Config, *, since: float | None = None) -> WhatIf:
    """Replay the successful calls of ``log`` under ``other``'s presets and prices."""
    with start_scan(log, since=since) as pending:
        return replay(pending.result(), other)


def replay(scan: Scan, other: Config) -> WhatIf:
    """The calls of ``scan`` (made by ``start_scan``) priced under ``other``."""
    from llmcfg.config.aliases import describe

    result = WhatIf(lines=scan.lines, corrupt=scan.corrupt)
    infos: dict[str, AliasInfo] = {}
    for key, sums in scan.rows.items():
        parts: tuple[str | None, ...] = key  # type: ignore[assignment]  # what _KEY returns
        alias, requested, kind, size, quality, status = parts
        if status != "ok":  # failed or blocked: nothing was bought (a cache hit replays at 0 tokens)
            continue
        target = counterpart(other, alias, requested)
        if target is None:
            name = str(requested or alias)
            result.no_counterpart[name] = result.no_counterpart.get(name, 0) + sums.requests
            result.skipped_recorded_usd += sums.cost_usd
            continue
        info = infos.get(target) or infos.setdefault(target, describe(other, target))
        usd = _price(info, str(kind), size, quality, sums)
        if usd is None:
            result.no_price[target] = result.no_price.get(target, 0) + sums.requests
            result.skipped_recorded_usd += sums.cost_usd
            continue
        row_key = (str(alias), target, str(kind))
        row = result.rows.get(row_key) or result.rows.setdefault(row_key, WhatIfRow(*row_key))
        row.calls += sums.requests
        row.recorded_usd += sums.cost_usd
        row.recorded_unpriced += sums.unpriced
        row.what_if_usd += usd
    return result
