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
class ReactionCell:
    """One catalyst's move over the ``sessions`` sessions after its window's last session."""

    sessions: int  # 1, 5 or 20
    to: dt.date | None  # the session it is measured to (None: no calendar, or no window)
    moves: list[Move]
    spread: float | None
    na: list[str]
    #: the session it ends on is after the note's session: to come, not n/a
    pending: bool = False


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
    #: the catalyst note's ``confidence`` (confirmed / estimated) and ``time``, or ""
    confidence: str = ""
    time: str = ""
    #: the sessions the window is measured over, and what anchoring changed ("" if nothing)
    first_session: dt.date | None = None
    last_session: dt.date | None = None
    anchor_note: str = ""
    #: the moves 1, 5 and 20 sessions after the window ([] for an upcoming or n/a catalyst)
    reactions: list[ReactionCell] = dataclasses.field(default_factory=list)
    #: an upcoming catalyst (its first session is after the note's): sessions until it
    sessions_until: int | None = None


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
    #: "price" or "ratio" (a ratio chart's ``moves`` are the legs' returns and its
    #: ``divergence`` their spread, since its first session)
    kind: str = "price"


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


@dataclass
class ScorecardView:
    """The pair since the thesis was opened (docs/frontmatter.md gives each formula)."""

    opened: dt.date
    opened_from: str  # "opened" or "created": the property it came from
    open_session: dt.date
    as_of: dt.date
    sessions: int
    long_pct: float
    short_pct: float
    spread_pp: float
    ratio_pct: float
    best_spread_pp: float | None
    best_session: dt.date | None
    worst_spread_pp: float | None
    worst_session: dt.date | None
    peak_session: dt.date | None
    max_drawdown_pct: float | None
    max_drawdown_session: dt.date | None
    current_drawdown_pct: float | None
    benchmark: str | None
    benchmark_pct: Figure
    long_excess_pp: float | None
    short_excess_pp: float | None
    #: "" or why the path figures (best, worst, drawdowns) are n/a
    path_problem: str
    #: the one sentence: "Since 2026-02-04: IWM/QQQ spread -2.6 pp over 137 sessions; ..."
    summary: str


@dataclass
class LevelView:
    """A level that calls the thesis, as of the note's session."""

    name: str
    kind: str  # invalidation | stop | target
    on: str  # spread | ratio | a ticker symbol
    direction: str  # below | above
    level: float
    measure: str  # "IWM/QQQ spread", "IWM/QQQ ratio", "IWM close"
    level_text: str  # the level formatted in its unit: "-5.0 pp", "+10.0%", "240.00"
    #: "hit" | "near" | "not hit", None when it cannot be checked (see ``reason``)
    status: str | None
    value: float | None
    value_text: str
    value_session: dt.date | None
    first_crossed: dt.date | None
    beyond_now: bool
    near_within: float
    #: the Obsidian callout type (danger, success, warning, note), its title and its line
    callout: str
    title: str
    text: str
    reason: str


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
class ScorecardContext:
    scorecard: ScorecardView | None
    #: why there is no scorecard ("no opened date: ..."), else ""
    scorecard_na: str


@dataclass
class StatusContext:
    levels: list[LevelView]


@dataclass
class TrackingContext:
    tracking: list[TrackingRow]
    compare: str
