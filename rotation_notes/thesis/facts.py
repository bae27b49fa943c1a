"""What every region of a thesis is computed from: the spec, the prices, the session.

:class:`Facts` is handed to each region builder (``thesis.builders``). It holds the run's
inputs and computes each symbol's figures once per date, so the tables, the charts and
the JSON report share them. Pure: no file, no network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rotation_notes.errors import DataError
from rotation_notes.note.text import WikiLink
from rotation_notes.prices.marketdata import PriceSet
from rotation_notes.thesis import analytics as a
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.spec import PAIR_MEASURES, CatalystWindow, Leg, ThesisSpec

if TYPE_CHECKING:
    from rotation_notes.thesis.chartplans import ChartPlan
    from rotation_notes.thesis.context import SkippedChart


def session_as_of(
    spec: ThesisSpec, prices: PriceSet, requested: dt.date | None, path: Path | str
) -> dt.date:
    """The session the note is rendered at: the last one both legs have, up to ``requested``."""
    ends = leg_ends(spec, prices, requested)
    for side, leg in (("long", spec.long), ("short", spec.short)):
        if leg.ticker in ends:
            continue
        series = prices.closes.get(leg.ticker)
        if series is None:
            raise DataError(
                f"no market data for {leg.ticker} ({prices.missing.get(leg.ticker, 'no data')})",
                path=path,
                key=f"rotation-notes.{side}.ticker",
                hint="add its CSV to the vault's data folder, or check the symbol",
            )
        raise DataError(
            f"no market data for {leg.ticker} on or before {requested}; "
            f"it starts {series.index[0].date()}",
            path=path,
        )
    return min(ends.values())


def leg_ends(spec: ThesisSpec, prices: PriceSet, requested: dt.date | None) -> dict[str, dt.date]:
    """Each leg's last session up to ``requested`` (legs without data are left out)."""
    ends: dict[str, dt.date] = {}
    for leg in (spec.long, spec.short):
        series = prices.closes.get(leg.ticker)
        if series is not None and not series.empty:
            last = m.close_on_or_before(series, requested or series.index[-1].date())
            if last is not None:
                ends[leg.ticker] = last[0]
    return ends


@dataclass(frozen=True)
class CatalystProblem:
    """A catalyst the thesis links to whose event window cannot be read.

    It is the catalyst note's mistake (no such note, a bad date...), not the thesis's: its
    row shows the link and n/a with ``reason``, and the rest of the thesis is refreshed.
    """

    note: str | None  # vault-relative path the link resolves to (None: no note)
    link: WikiLink
    title: str
    reason: str  # what is wrong and what to do, naming the file (and line) when known


#: A catalyst row's source: its window, or why it has none.
Catalyst = CatalystWindow | CatalystProblem


@dataclass
class Facts:
    """The inputs of one thesis at one session, with each symbol's figures computed once."""

    spec: ThesisSpec
    prices: PriceSet
    as_of: dt.date
    requested: dt.date | None
    catalysts: list[Catalyst]
    #: the charts drawn for this note, and those not redrawn with the reason (chartplans)
    charts: list[ChartPlan] = field(default_factory=list)
    charts_skipped: list[SkippedChart] = field(default_factory=list)
    _stats: dict[tuple[str, dt.date], m.TickerStats] = field(default_factory=dict, repr=False)
    _windows: dict[int, list[m.Figure]] = field(default_factory=dict, repr=False)
    _periods: dict[int, list[m.Figure]] = field(default_factory=dict, repr=False)
    _anchors: dict[int, a.Anchor] = field(default_factory=dict, repr=False)
    _reactions: dict[int, dict[int, tuple[dt.date | None, list[m.Figure]]]] = field(
        default_factory=dict, repr=False
    )
    _path: a.PairPath | str | None = field(default=None, repr=False)
    _scorecard: a.Scorecard | str | None = field(default=None, repr=False)
    _levels: list[a.LevelState] | None = field(default=None, repr=False)

    def name(self, symbol: str) -> str:
        """The note's own name for a symbol wins, then the provider's, then the symbol."""
        return self.spec.names.get(symbol) or self.prices.names.get(symbol) or symbol

    def missing(self, symbol: str, default: str = "no data") -> str:
        return self.prices.missing.get(symbol, default)

    def stats(self, symbol: str, at: dt.date | None = None) -> m.TickerStats:
        """A symbol's figures at ``at`` (default: the note's session), computed once a run."""
        at = at or self.as_of
        if (symbol, at) not in self._stats:
            # once per run for every note at this session (the prices' memo), then per note
            key = ("ticker_stats", symbol, at, self.missing(symbol))
            memo = self.prices.memo
            if key not in memo:
                memo[key] = m.ticker_stats(
                    symbol, self.prices.closes.get(symbol), at, self.missing(symbol)
                )
            self._stats[symbol, at] = memo[key]
        return self._stats[symbol, at]

    def window_moves(self, index: int) -> list[m.Figure]:
        """Each catalyst symbol's move over catalyst ``index``'s window."""
        if index not in self._windows:
            c = self.catalysts[index]
            self._windows[index] = [
                m.Figure(None, c.reason)
                if isinstance(c, CatalystProblem)
                else m.window_move(
                    self.prices.closes.get(s),
                    self.anchor(index).start,
                    self.anchor(index).end,
                    self.as_of,
                    self.missing(s),
                )
                for s in self.spec.catalyst_symbols
            ]
        return self._windows[index]

    def anchor(self, index: int) -> a.Anchor:
        """The sessions catalyst ``index``'s window covers (it must have a window)."""
        if index not in self._anchors:
            c = self.catalysts[index]
            assert isinstance(c, CatalystWindow)
            self._anchors[index] = a.anchor_window(c.start, c.end, c.time)
        return self._anchors[index]

    def reactions(self, index: int) -> dict[int, tuple[dt.date | None, list[m.Figure]]]:
        """For each of ``REACTION_SESSIONS``: the session it ends on and each catalyst
        symbol's move from the window's last close to it."""
        if index not in self._reactions:
            c = self.catalysts[index]
            symbols = self.spec.catalyst_symbols
            out: dict[int, tuple[dt.date | None, list[m.Figure]]] = {}
            if isinstance(c, CatalystProblem):
                for n in a.REACTION_SESSIONS:
                    out[n] = (None, [m.Figure(None, c.reason) for _ in symbols])
            else:
                end = self.anchor(index).end
                targets = a.reaction_targets(end)
                for n in a.REACTION_SESSIONS:
                    if isinstance(targets, str):
                        out[n] = (None, [m.Figure(None, targets) for _ in symbols])
                        continue
                    out[n] = (
                        targets[n],
                        [
                            a.reaction(
                                self.prices.closes.get(s),
                                end,
                                targets[n],
                                self.as_of,
                                n,
                                self.missing(s),
                            )
                            for s in symbols
                        ],
                    )
            self._reactions[index] = out
        return self._reactions[index]

    def path(self) -> a.PairPath | str:
        """The pair since the thesis was opened, or why there is none."""
        if self._path is None:
            spec = self.spec
            if spec.opened is None:
                self._path = spec.opened_from
            else:
                long, short = spec.long.ticker, spec.short.ticker
                closes = self.prices.closes
                missing = next(
                    (f"{s}: {self.missing(s)}" for s in (long, short) if s not in closes), None
                )
                self._path = missing or a.pair_path(
                    closes.get(long), closes.get(short), spec.opened, self.as_of, (long, short)
                )
        return self._path

    def scorecard(self) -> a.Scorecard | str:
        """The scorecard since the thesis was opened, or why there is none."""
        if self._scorecard is None:
            path = self.path()
            bench = self.spec.benchmark
            self._scorecard = (
                path
                if isinstance(path, str)
                else a.scorecard(
                    path,
                    bench,
                    self.prices.closes.get(bench) if bench else None,
                    self.missing(bench) if bench else "",
                )
            )
        return self._scorecard

    def levels(self) -> list[a.LevelState]:
        """Each level of the spec as of the note's session."""
        if self._levels is None:
            path = self.path()
            self._levels = [
                a.evaluate(
                    level,
                    path
                    if isinstance(path, str)
                    else a.level_series(level, path, self.prices.closes, self.missing(level.on)),
                )
                for level in self.spec.levels
            ]
        return self._levels

    def period_moves(self, index: int) -> list[m.Figure]:
        """Each history symbol's move over historical period ``index`` (to ``as_of`` at most)."""
        if index not in self._periods:
            p, as_of, closes = self.spec.periods[index], self.as_of, self.prices.closes
            self._periods[index] = [
                m.change(
                    closes[s], p.start - dt.timedelta(days=1), self.period_end(index), "period"
                )
                if s in closes and p.start <= as_of
                else m.Figure(None, self.missing(s, f"period starts after {as_of}"))
                for s in self.spec.history_symbols
            ]
        return self._periods[index]

    def period_end(self, index: int) -> dt.date:
        """The last day historical period ``index`` is measured to."""
        end = self.spec.periods[index].end
        return min(end, self.as_of) if end else self.as_of

    def no_data(self) -> dict[str, list[str]]:
        """Each symbol a table shows that has no data at all, with the tables it is n/a in.

        Chart tickers are left out: a chart missing one is not redrawn, and says so.
        """
        spec = self.spec
        uses: list[tuple[str, tuple[str, ...]]] = [("tracking", (*spec.tracking, spec.compare))]
        if any(isinstance(c, CatalystWindow) for c in self.catalysts):
            uses.append(("catalysts", spec.catalyst_symbols))
        if spec.periods:
            uses.append(("history", spec.history_symbols))
        if spec.benchmark and spec.opened:
            uses.append(("scorecard", (spec.benchmark,)))
        ticker_levels = tuple(lv.on for lv in spec.levels if lv.on not in PAIR_MEASURES)
        if ticker_levels:
            uses.append(("status", ticker_levels))
        out: dict[str, list[str]] = {}
        for table, symbols in uses:
            for s in dict.fromkeys(symbols):
                series = self.prices.closes.get(s)
                if series is None or series.empty:
                    out.setdefault(s, []).append(table)
        return out

    def legs(self) -> tuple[Leg, Leg]:
        return self.spec.long, self.spec.short

    def held_back(self) -> list[str]:
        """Why a leg holds the note's session back, when it is by a data gap or a dropped close."""
        ends = leg_ends(self.spec, self.prices, self.requested)
        if len(ends) < 2:
            return []
        top_symbol = max(ends, key=lambda s: ends[s])
        top = ends[top_symbol]
        out = []
        why = f"the note is as of {self.as_of}, the last session both legs have"
        for symbol, end in ends.items():
            if end >= top:
                continue
            bad = [d for d in m.dropped_dates(self.prices.closes[symbol]) if end < d <= top]
            if bad:
                out.append(f"{symbol}: the close of {bad[-1]} was dropped as bad data; {why}")
            elif (top - end).days > m.MAX_GAP_DAYS:
                out.append(
                    f"{symbol}: data ends {end}, {(top - end).days} days before "
                    f"{top_symbol}'s; {why}"
                )
        return out


def na_lines(subject: str, figures: list[tuple[str, m.Figure]]) -> list[str]:
    """One line per distinct reason: ``"IWM: n/a (YTD, 3-month), <reason>"``."""
    by_reason: dict[str, list[str]] = {}
    for label, fig in figures:
        if not fig.ok:
            by_reason.setdefault(fig.reason or "no data", []).append(label)
    return [f"{subject}: n/a ({', '.join(labels)}), {why}" for why, labels in by_reason.items()]
