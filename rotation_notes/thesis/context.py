"""The typed rows the region templates are given (the template contract).

Each region builder (``thesis.builders``) returns one of the ``*Context`` classes below;
its fields are the names its template uses. Templates reach fields as ``row.symbol`` or
``row['symbol']`` alike. docs/regions.md lists them for template overrides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from rotation_notes.thesis.metrics import Figure, TickerStats


def fields_of(context: Any) -> dict[str, Any]:
    """A context's fields as template names (shallow: rows stay typed)."""
    return {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}


@dataclass
class LegView:
    label: str
    ticker: str
    index: str
    name: str
    stats: TickerStats


@dataclass
class SymbolName:
    symbol: str
    name: str


@dataclass
class Move:
    symbol: str
    name: str
    move: Figure


@dataclass
class MetricRow:
    name: str
    long: float
    short: float
    unit: str
    source: str
    as_of: dt.date
    age_days: int
    stale: bool
    gap: bool
    gap_pct: float | None


@dataclass
class TrackingRow:
    symbol: str
    description: str
    stats: TickerStats
    is_compare: bool
    spread_ytd: float | None
    #: the reasons for n/a cells; a row with no data at all has one line of its own
    na: list[str]


@dataclass
class CatalystRow:
    title: str
    link: str
    alias: str | None
    #: the event window (None when the catalyst note cannot give one: see ``problem``)
    start: dt.date | None
    end: dt.date | None
    moves: list[Move]
    partial: bool
    future: bool
    spread: float | None
    #: the reasons for n/a cells; a row with a ``problem`` has that one line
    na: list[str]
    #: why the catalyst note gives no window (no such note, a bad date...), else None
    problem: str | None


@dataclass
class PeriodRow:
    label: str
    setup: str
    start: dt.date
    end: dt.date | None
    to: dt.date
    moves: list[Move]
    spread: float | None
    na: list[str]


@dataclass
class ChartView:
    file: str
    path: str
    embed: str
    caption: str
    divergence: float
    moves: dict[str, float]
    first_session: dt.date
    last_session: dt.date


@dataclass
class SkippedChart:
    file: str
    path: str
    reason: str


@dataclass
class DataView:
    providers: list[str]
    latest_session: str | None
    #: everything worth a warning (the CLI and --json list these)
    warnings: list[str]
    #: prices from a fallback, not a live fetch
    not_live: list[str]
    #: bad rows dropped, a leg holding the note back
    problems: list[str]
    sources: list[dict[str, Any]]
    #: "" or why the data is old: it ends more than ``BEHIND_AFTER_SESSIONS`` sessions before
    #: the run (or the --as-of date asked for); no count, so it changes only with new data
    behind: str = ""


# --- one context per region ---------------------------------------------------------------


@dataclass
class BaseContext:
    """What every template may use."""

    as_of: dt.date
    requested_as_of: dt.date | None
    long: LegView
    short: LegView


@dataclass
class HeadlineContext:
    lead: LegView
    ytd_spread: float | None
    headline_na: list[str]


@dataclass
class UpdatedContext:
    data: DataView


@dataclass
class SetupContext:
    setup_na: list[str]
    metrics: list[MetricRow]
    stale_after_days: int


@dataclass
class CatalystsContext:
    catalyst_symbols: list[SymbolName]
    catalysts: list[CatalystRow]


@dataclass
class HistoryContext:
    history_symbols: list[SymbolName]
    periods: list[PeriodRow]


@dataclass
class ChartsContext:
    charts: list[ChartView]
    charts_skipped: list[SkippedChart]


@dataclass
class TrackingContext:
    tracking: list[TrackingRow]
    compare: str
