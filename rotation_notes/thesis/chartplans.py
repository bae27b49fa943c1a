"""Which charts a thesis draws, and each chart's PNG bytes (pure: nothing is written).

A chart is drawn when the note has a ``charts`` region or embeds the chart's file; a chart
whose data has a problem is not drawn at all (the file already there is left as it is),
with the reason.

Price charts mark the thesis's open session and shade each catalyst window in their span;
a ratio chart (``kind: ratio``) draws the pair since the open session, rebased to 100, with
each level as a labelled line (spread levels and ticker levels on panels of their own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from rotation_notes.output.charts import (
    COLOR_NAMES,
    ChartLine,
    ChartResult,
    LevelLine,
    Marks,
    Panel,
    Span,
    _panel_values,
    _ratio_sessions,
    _summary,
    draw_chart,
    draw_ratio_chart,
)
from rotation_notes.output.templates import fmt_pct, fmt_pp
from rotation_notes.thesis import analytics as a
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.builders import level_format, level_text
from rotation_notes.thesis.context import SkippedChart
from rotation_notes.thesis.facts import CatalystProblem, Facts
from rotation_notes.thesis.spec import PAIR_MEASURES, ChartSpec, Level
from rotation_notes.vault.fingerprint import code_key, digest_of


@dataclass(frozen=True)
class ChartJob:
    """Everything a chart's PNG is drawn from, and nothing else: drawn where and when the
    caller chooses (a process pool draws many at once), the same bytes wherever it is drawn.
    ``fingerprint`` names those inputs (with the drawing code and library versions): two jobs
    with one fingerprint draw one PNG, so a chart whose fingerprint is unchanged need not be
    drawn again."""

    kind: str  # "price" | "ratio"
    lines: tuple[ChartLine, ...] = ()
    days: int = 0
    panels: tuple[Panel, ...] = ()
    title: str = ""
    marks: Marks = Marks()

    def draw(self) -> bytes:
        if self.kind == "ratio":
            return draw_ratio_chart(list(self.panels), self.title, self.marks).png
        return draw_chart(list(self.lines), self.days, self.marks).png

    @property
    def fingerprint(self) -> str:
        return digest_of(("chart", code_key(), self.kind, self.lines, self.days, self.panels,
                          self.title, self.marks))  # fmt: skip


def draw_job(job: ChartJob) -> bytes:
    """``job.draw()`` as a plain function (what a process pool is handed)."""
    return job.draw()


@dataclass
class ChartPlan:
    file: str  # as named in the spec
    rel: str  # vault-relative path the PNG goes to
    embed: str  # link text used in the embed
    #: for a ratio chart, ``moves`` are the legs' returns and ``divergence`` the spread (pp),
    #: since the first session drawn. Its ``png`` is empty: the PNG is ``png`` below.
    result: ChartResult
    caption: str
    kind: str = "price"
    job: ChartJob = ChartJob("price")
    _png: bytes | None = None

    @property
    def png(self) -> bytes:
        """The chart's PNG: drawn here on first use unless the caller set it (``drawn``)."""
        if self._png is None:
            self._png = self.job.draw()
        return self._png

    def drawn(self, png: bytes) -> None:
        """Set the PNG the job drew elsewhere (a pool worker)."""
        self._png = png


def chart_marks(facts: Facts) -> Marks:
    """The open session and each catalyst window, for the charts to mark."""
    path = facts.path()
    spans = tuple(
        Span(facts.anchor(i).start, facts.anchor(i).end, c.title)
        for i, c in enumerate(facts.catalysts)
        if not isinstance(c, CatalystProblem)
    )
    return Marks(path.open_session if isinstance(path, a.PairPath) else None, spans)


def plan_charts(
    facts: Facts, chart_paths: Mapping[str, tuple[str, str]]
) -> tuple[list[ChartPlan], list[SkippedChart]]:
    """Draw each chart of ``chart_paths`` (file -> (vault-relative path, embed text))."""
    drawn: list[ChartPlan] = []
    skipped: list[SkippedChart] = []
    marks: Marks | None = None
    for chart in facts.spec.charts:
        if chart.file not in chart_paths:
            continue  # the note neither has a charts region nor embeds this file
        rel, embed = chart_paths[chart.file]
        marks = marks or chart_marks(facts)
        planned = (
            _ratio_chart(facts, chart, marks)
            if chart.kind == "ratio"
            else _price_chart(facts, chart, marks)
        )
        if isinstance(planned, str):
            # Not drawn rather than drawn wrong: the existing file is left as it is.
            skipped.append(SkippedChart(chart.file, rel, planned))
            continue
        result, caption, job = planned
        drawn.append(ChartPlan(chart.file, rel, embed, result, caption, chart.kind, job))
    return drawn, skipped


_Planned = tuple[ChartResult, str, ChartJob] | str


def _price_chart(facts: Facts, chart: ChartSpec, marks: Marks) -> _Planned:
    closes, as_of = facts.prices.closes, facts.as_of
    days = chart.days
    assert days is not None  # only a ratio chart may leave days out (spec.parse_spec)
    lines = []
    problems = []
    for sym in chart.tickers:
        series = closes.get(sym)
        if series is None:
            problems.append(f"{sym}: {facts.missing(sym)}")
        elif (problem := m.chart_problem(series, as_of, days)) is not None:
            problems.append(f"{sym}: {problem}")
        else:
            lines.append(ChartLine(sym, sym, m.rebased(series, as_of, days)))
    if problems:
        return f"not redrawn for {as_of}, {'; '.join(problems)}"
    job = ChartJob("price", lines=tuple(lines), days=days, marks=marks)
    result = ChartResult(b"", *_summary(lines))
    parts = [
        f"{sym} ({COLOR_NAMES[i % len(COLOR_NAMES)]}) {result.moves[sym]:+.1f}%"
        for i, sym in enumerate(chart.tickers)
    ]
    caption = (
        f"{' vs '.join(parts)} over the last {days} days "
        f"({result.first_session} to {result.last_session}): "
        f"{abs(result.divergence):.1f} pp divergence, "
        f"{chart.tickers[0] if result.divergence >= 0 else chart.tickers[1]} ahead."
    )
    return result, caption, job


def _ratio_chart(facts: Facts, chart: ChartSpec, marks: Marks) -> _Planned:
    path = facts.path()
    as_of = facts.as_of
    if isinstance(path, str):
        return f"not drawn for {as_of}: {path}"
    start = path.open_session
    if chart.days is not None:
        start = max(start, as_of - dt.timedelta(days=chart.days))
    long, short = facts.spec.long.ticker, facts.spec.short.ticker
    ratio = (100.0 + path.ratio).loc[pd.Timestamp(start) :]
    if len(ratio) < 2:
        return (
            f"not drawn for {as_of}: the ratio since {path.open_session} has "
            f"{len(ratio)} session{'s' * (len(ratio) != 1)}, a chart needs two"
        )
    states = facts.levels()

    def lines(on: str, to_panel: float = 0.0) -> tuple[LevelLine, ...]:
        return tuple(
            LevelLine(
                st.level.value + to_panel,
                f"{st.level.name}: {st.level.direction} {_short_level(st.level, facts)}",
                st.status == "hit",
                st.first_crossed,
            )
            for st in states
            if st.level.on == on
        )

    pair = f"{long}/{short}"
    panels = [
        Panel(ratio, f"{pair} ratio (open session = 100)", "index", 100.0, lines("ratio", 100.0))
    ]
    if any(st.level.on == "spread" for st in states):
        spread = path.spread.loc[pd.Timestamp(start) :]
        panels.append(
            Panel(spread, f"{long} − {short} spread since opened (pp)", "pp", 0.0, lines("spread"))
        )
    for symbol in dict.fromkeys(st.level.on for st in states if st.level.on not in PAIR_MEASURES):
        series = facts.prices.closes.get(symbol)
        if series is None:
            continue  # its level says "not checked" in the status region
        s = m.upto(series, as_of).loc[pd.Timestamp(start) :].astype(float)
        if len(s) >= 2:
            panels.append(Panel(s, f"{symbol} close", "price", None, lines(symbol)))
    first, last = ratio.index[0].date(), ratio.index[-1].date()
    span = (
        f"since {path.open_session}, rebased to 100"
        if first == path.open_session
        else f"from {first} (100 at {path.open_session})"
    )
    title = f"{pair} ratio {span} ({first} to {last})"
    job = ChartJob("ratio", panels=tuple(panels), title=title, marks=marks)
    first_drawn, last_drawn = _ratio_sessions(_panel_values(panels))
    long_s = path.long.loc[pd.Timestamp(start) :]
    short_s = path.short.loc[pd.Timestamp(start) :]
    long_pct = (float(long_s.iloc[-1]) / float(long_s.iloc[0]) - 1.0) * 100.0
    short_pct = (float(short_s.iloc[-1]) / float(short_s.iloc[0]) - 1.0) * 100.0
    result = ChartResult(
        b"", first_drawn, last_drawn,
        {long: long_pct, short: short_pct}, long_pct - short_pct,
    )  # fmt: skip
    now = float(ratio.iloc[-1])
    caption = (
        f"{pair} ratio {span}: {now:.1f} on {last} "
        f"({fmt_pct(now - 100.0)}; spread {fmt_pp(float(path.spread.iloc[-1]))})"
    )
    if states:
        caption += "; levels: " + ", ".join(
            f"{st.level.name} {st.status or 'not checked'}"
            + (f" {st.first_crossed}" if st.first_crossed else "")
            for st in states
        )
    return result, caption + ".", job


def _short_level(level: Level, facts: Facts) -> str:
    return level_text(level.value, level_format(facts, level)[1])
