"""Which charts a thesis draws, and each chart's PNG bytes (pure: nothing is written).

A chart is drawn when the note has a ``charts`` region or embeds the chart's file; a chart
whose data has a problem is not drawn at all (the file already there is left as it is),
with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rotation_notes.output.charts import COLOR_NAMES, ChartLine, ChartResult, draw_chart
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.context import SkippedChart
from rotation_notes.thesis.facts import Facts


@dataclass
class ChartPlan:
    file: str  # as named in the spec
    rel: str  # vault-relative path the PNG goes to
    embed: str  # link text used in the embed
    result: ChartResult
    caption: str


def plan_charts(
    facts: Facts, chart_paths: Mapping[str, tuple[str, str]]
) -> tuple[list[ChartPlan], list[SkippedChart]]:
    """Draw each chart of ``chart_paths`` (file -> (vault-relative path, embed text))."""
    closes, as_of = facts.prices.closes, facts.as_of
    drawn: list[ChartPlan] = []
    skipped: list[SkippedChart] = []
    for chart in facts.spec.charts:
        if chart.file not in chart_paths:
            continue  # the note neither has a charts region nor embeds this file
        rel, embed = chart_paths[chart.file]
        if chart.kind == "ratio" or chart.days is None:
            continue  # TODO(issue 14): ratio charts
        lines = []
        problems = []
        for sym in chart.tickers:
            series = closes.get(sym)
            if series is None:
                problems.append(f"{sym}: {facts.missing(sym)}")
            elif (problem := m.chart_problem(series, as_of, chart.days)) is not None:
                problems.append(f"{sym}: {problem}")
            else:
                lines.append(ChartLine(sym, sym, m.rebased(series, as_of, chart.days)))
        if problems:
            # Not drawn rather than drawn wrong: the existing file is left as it is.
            reason = f"not redrawn for {as_of}, {'; '.join(problems)}"
            skipped.append(SkippedChart(chart.file, rel, reason))
            continue
        result = draw_chart(lines, chart.days)
        parts = [
            f"{sym} ({COLOR_NAMES[i % len(COLOR_NAMES)]}) {result.moves[sym]:+.1f}%"
            for i, sym in enumerate(chart.tickers)
        ]
        caption = (
            f"{' vs '.join(parts)} over the last {chart.days} days "
            f"({result.first_session} to {result.last_session}): "
            f"{abs(result.divergence):.1f} pp divergence, "
            f"{chart.tickers[0] if result.divergence >= 0 else chart.tickers[1]} ahead."
        )
        drawn.append(ChartPlan(chart.file, rel, embed, result, caption))
    return drawn, skipped
