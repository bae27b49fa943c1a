"""The pure core: a thesis spec plus prices in, region texts and charts out.

``build_context`` turns a validated spec, the run's prices and the catalyst
windows into the plain data every template sees; ``render_note`` renders each
region of a note and splices the results in. Nothing here touches a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from rotation_notes.errors import DataError
from rotation_notes.note.regions import Region, check_rendered, check_same_regions, replace_regions
from rotation_notes.note.text import NoteText
from rotation_notes.output.charts import COLOR_NAMES, ChartLine, ChartResult, render_chart
from rotation_notes.output.templates import one_line_values, render_region
from rotation_notes.prices.marketdata import PriceSet, data_warnings
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.spec import CatalystWindow, ThesisSpec


def session_as_of(
    spec: ThesisSpec, prices: PriceSet, requested: dt.date | None, path: Path | str
) -> dt.date:
    """The session the note is rendered at: the last one both legs have, up to ``requested``."""
    days = []
    for side, leg in (("long", spec.long), ("short", spec.short)):
        series = prices.closes.get(leg.ticker)
        if series is None:
            why = prices.missing.get(leg.ticker, "no data")
            raise DataError(
                f"no market data for {leg.ticker} ({why})",
                path=path,
                key=f"rotation-notes.{side}.ticker",
                hint="add its CSV to the vault's data folder, or check the symbol",
            )
        last = m.close_on_or_before(series, requested or series.index[-1].date())
        if last is None:
            raise DataError(
                f"no market data for {leg.ticker} on or before {requested}; "
                f"it starts {series.index[0].date()}",
                path=path,
            )
        days.append(last[0])
    return min(days)


@dataclass
class ChartPlan:
    file: str  # as named in the spec
    rel: str  # vault-relative path the PNG goes to
    embed: str  # link text used in the embed
    result: ChartResult
    caption: str


@dataclass
class Composed:
    as_of: dt.date
    context: dict[str, Any]
    charts: list[ChartPlan] = field(default_factory=list)
    report_tickers: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_catalysts: list[dict[str, Any]] = field(default_factory=list)


def build_context(
    spec: ThesisSpec,
    prices: PriceSet,
    as_of: dt.date,
    catalysts: list[CatalystWindow],
    chart_paths: Mapping[str, tuple[str, str]],
    path: Path | str,
    requested: dt.date | None = None,
) -> Composed:
    """Everything the templates need, computed from closes up to ``as_of``.

    ``chart_paths`` maps each chart file name to (vault-relative path, embed text).
    """
    closes = prices.closes
    notes: list[str] = []

    def name(symbol: str) -> str:
        """The note's own name for a symbol wins, then the provider's, then the symbol."""
        return spec.names.get(symbol) or prices.names.get(symbol) or symbol

    computed: dict[tuple[str, dt.date], m.TickerStats] = {}

    def stats(symbol: str, at: dt.date = as_of) -> m.TickerStats:
        """Each symbol's figures once per date (the tables and the JSON report share them)."""
        if (symbol, at) not in computed:
            computed[symbol, at] = m.ticker_stats(
                symbol, closes.get(symbol), at, prices.missing.get(symbol, "no data")
            )
        return computed[symbol, at]

    def leg_view(leg: Any) -> dict[str, Any]:
        return {
            "label": leg.label,
            "ticker": leg.ticker,
            "index": leg.index,
            "name": name(leg.ticker),
            "stats": stats(leg.ticker),
        }

    long, short = leg_view(spec.long), leg_view(spec.short)
    setup_na = [
        line
        for leg in (long, short)
        for line in na_lines(
            leg["ticker"],
            [
                ("YTD", leg["stats"].ytd),
                ("3-month", leg["stats"].ret_3m),
                ("1-year", leg["stats"].ret_1y),
                ("from 52-week high", leg["stats"].from_high),
            ],
        )
    ]
    headline_na = [
        f"{leg['ticker']}: n/a, {leg['stats'].ytd.reason}"
        for leg in (long, short)
        if not leg["stats"].ytd.ok
    ]

    metrics_view = []
    for hm in spec.metrics:
        age = (as_of - hm.as_of).days
        metrics_view.append(
            {
                "name": hm.name,
                "long": hm.long,
                "short": hm.short,
                "unit": hm.unit,
                "source": hm.source,
                "as_of": hm.as_of,
                "age_days": age,
                "stale": age > spec.stale_after_days,
                "gap": hm.gap,
                "gap_pct": m.ratio_gap(hm.long, hm.short),
            }
        )

    compare_stats = stats(spec.compare)
    tracking = []
    for symbol in spec.tracking:
        st = stats(symbol)
        ref = compare_stats
        if st.last_session is not None and st.last_session < as_of:
            ref = stats(spec.compare, st.last_session)  # compare like with like
        spread_ytd = m.spread(st.ytd, ref.ytd)
        figures = [("1D", st.ret_1d), ("1M", st.ret_1m), ("3M", st.ret_3m), ("YTD", st.ytd)]
        if symbol != spec.compare and st.ytd.ok and spread_ytd is None:
            why = f"{spec.compare}'s YTD to {ref.last_session or as_of} is n/a ({ref.ytd.reason})"
            figures.append((f"YTD vs {spec.compare}", m.Figure(None, why)))
        tracking.append(
            {
                "symbol": symbol,
                "description": name(symbol),
                "stats": st,
                "is_compare": symbol == spec.compare,
                "spread_ytd": spread_ytd,
                # the reasons for n/a cells; a row with no data at all has one line of its own
                "na": na_lines(symbol, figures) if st.close is not None else [],
            }
        )
        notes.extend(st.notes)

    cat_rows = []
    report_cats = []
    for c in catalysts:
        moves: list[dict[str, Any]] = [
            {
                "symbol": s,
                "name": name(s),
                "move": m.window_move(
                    closes.get(s), c.start, c.end, as_of, prices.missing.get(s, "no data")
                ),
            }
            for s in spec.catalyst_symbols
        ]
        cat_rows.append(
            {
                "title": c.title,
                "link": c.link.target,
                "alias": c.link.alias,
                "start": c.start,
                "end": c.end,
                "moves": moves,
                "partial": c.start <= as_of < c.end,
                "future": c.start > as_of,
                "spread": m.spread(moves[0]["move"], moves[1]["move"]) if len(moves) >= 2 else None,
                "na": [
                    f"{c.title}, {x['symbol']}: n/a, {x['move'].reason}"
                    for x in moves
                    if not x["move"].ok
                ],
            }
        )
        report_cats.append(
            {
                "note": c.note,
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "moves": {x["symbol"]: _round(x["move"].pct) for x in moves},
            }
        )
        # why each null move is null ({} when none is): a stable shape for scripts
        report_cats[-1]["reasons"] = {
            x["symbol"]: x["move"].reason for x in moves if not x["move"].ok
        }
        for x in moves:
            if not x["move"].ok:
                notes.append(f"{c.title}, {x['symbol']}: {x['move'].reason}")

    periods = []
    for p in spec.periods:
        end = min(p.end, as_of) if p.end else as_of
        moves = [
            {
                "symbol": s,
                "name": name(s),
                "move": m.change(closes[s], p.start - dt.timedelta(days=1), end, "period")
                if s in closes and p.start <= as_of
                else m.Figure(None, prices.missing.get(s, f"period starts after {as_of}")),
            }
            for s in spec.history_symbols
        ]
        periods.append(
            {
                "label": p.label,
                "setup": p.setup,
                "start": p.start,
                "end": p.end,
                "to": end,
                "moves": moves,
                "spread": m.spread(moves[0]["move"], moves[1]["move"]) if len(moves) >= 2 else None,
                "na": [
                    f"{p.label}, {x['symbol']}: n/a, {x['move'].reason}"
                    for x in moves
                    if not x["move"].ok
                ],
            }
        )
        for x in moves:
            if not x["move"].ok:
                notes.append(f"{p.label}, {x['symbol']}: {x['move'].reason}")

    composed = Composed(as_of, {})
    skipped_charts = []
    for chart in spec.charts:
        if chart.file not in chart_paths:
            continue  # the note neither has a charts region nor embeds this file
        rel, embed = chart_paths[chart.file]
        lines = []
        problems = []
        for sym in chart.tickers:
            series = closes.get(sym)
            if series is None:
                problems.append(f"{sym}: {prices.missing.get(sym, 'no data')}")
            elif (problem := m.chart_problem(series, as_of, chart.days)) is not None:
                problems.append(f"{sym}: {problem}")
            else:
                lines.append(ChartLine(sym, sym, m.rebased(series, as_of, chart.days)))
        if problems:
            # Not drawn rather than drawn wrong: the existing file is left as it is.
            skipped_charts.append(
                {
                    "file": chart.file,
                    "path": rel,
                    "reason": f"not redrawn for {as_of}, {'; '.join(problems)}",
                }
            )
            continue
        result = render_chart(lines, chart.days)
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
        composed.charts.append(ChartPlan(chart.file, rel, embed, result, caption))

    sources = [
        {"symbol": s, **prices.sources[s].to_json()} for s in spec.symbols() if s in prices.sources
    ]
    providers = sorted({src["provider"] for src in sources})
    groups: dict[tuple[str, str, str], list[str]] = {}
    for src in sources:
        if src["message"]:
            key = (src["message"], src["last_session"], src["provider"])
            groups.setdefault(key, []).append(src["symbol"])
    not_live = [
        f"{message[:1].upper()}{message[1:]}: {', '.join(symbols)} from {provider}, data to {last}."
        for (message, last, provider), symbols in groups.items()
    ]
    problems = [f"{s}: {w}" for s in spec.symbols() for w in data_warnings(prices, s)]
    problems += _held_back(spec, prices, as_of, requested)
    latest = max((src["last_session"] for src in sources if src["last_session"]), default=None)

    composed.context = {
        "as_of": as_of,
        "requested_as_of": requested,
        "long": long,
        "short": short,
        "lead": long if (m.spread(long["stats"].ytd, short["stats"].ytd) or 0) >= 0 else short,
        "ytd_spread": m.spread(long["stats"].ytd, short["stats"].ytd),
        "headline_na": headline_na,
        "setup_na": setup_na,
        "metrics": metrics_view,
        "stale_after_days": spec.stale_after_days,
        "tracking": tracking,
        "compare": spec.compare,
        "catalyst_symbols": [{"symbol": s, "name": name(s)} for s in spec.catalyst_symbols],
        "catalysts": cat_rows,
        "history_symbols": [{"symbol": s, "name": name(s)} for s in spec.history_symbols],
        "periods": periods,
        "charts": [
            {
                "file": c.file,
                "path": c.rel,
                "embed": c.embed,
                "caption": c.caption,
                "divergence": c.result.divergence,
                "moves": c.result.moves,
                "first_session": c.result.first_session,
                "last_session": c.result.last_session,
            }
            for c in composed.charts
        ],
        "charts_skipped": skipped_charts,
        "data": {
            "providers": providers,
            "latest_session": latest,
            # everything worth a warning (the CLI and --json list these)
            "warnings": not_live
            + problems
            + [f"Chart {c['file']} {c['reason']}." for c in skipped_charts],
            "not_live": not_live,  # prices from a fallback, not a live fetch
            "problems": problems,  # bad rows dropped, a leg holding the note back
            "sources": sources,
        },
        "notes": list(dict.fromkeys(notes)),
    }
    for symbol in spec.symbols():
        st = stats(symbol)
        composed.report_tickers[symbol] = {
            "close": None if st.close is None else round(st.close, 4),
            "last_session": st.last_session.isoformat() if st.last_session else None,
            "ret_1d_pct": _round(st.ret_1d.pct),
            "ret_1m_pct": _round(st.ret_1m.pct),
            "ret_3m_pct": _round(st.ret_3m.pct),
            "ytd_pct": _round(st.ytd.pct),
        }
        reasons = {
            key: fig.reason
            for key, fig in (
                ("close", st.ytd if st.close is None else m.Figure(0.0)),
                ("ret_1d_pct", st.ret_1d),
                ("ret_1m_pct", st.ret_1m),
                ("ret_3m_pct", st.ret_3m),
                ("ytd_pct", st.ytd),
            )
            if not fig.ok
        }
        composed.report_tickers[symbol]["reasons"] = reasons  # why each null figure is null
    composed.report_catalysts = report_cats
    return composed


def na_lines(subject: str, figures: list[tuple[str, m.Figure]]) -> list[str]:
    """One line per distinct reason: ``"IWM: n/a (YTD, 3-month), <reason>"``."""
    by_reason: dict[str, list[str]] = {}
    for label, fig in figures:
        if not fig.ok:
            by_reason.setdefault(fig.reason or "no data", []).append(label)
    return [f"{subject}: n/a ({', '.join(labels)}), {why}" for why, labels in by_reason.items()]


def _held_back(
    spec: ThesisSpec, prices: PriceSet, as_of: dt.date, requested: dt.date | None
) -> list[str]:
    """Why a leg holds the note's session back, when it is by a data gap or a dropped close."""
    ends: dict[str, dt.date] = {}
    for leg in (spec.long, spec.short):
        series = prices.closes.get(leg.ticker)
        if series is not None and not series.empty:
            last = m.close_on_or_before(series, requested or series.index[-1].date())
            if last is not None:
                ends[leg.ticker] = last[0]
    if len(ends) < 2:
        return []
    top_symbol = max(ends, key=lambda s: ends[s])
    top = ends[top_symbol]
    out = []
    why = f"the note is as of {as_of}, the last session both legs have"
    for symbol, end in ends.items():
        if end >= top:
            continue
        bad = [d for d in m.dropped_dates(prices.closes[symbol]) if end < d <= top]
        if bad:
            out.append(f"{symbol}: the close of {bad[-1]} was dropped as bad data; {why}")
        elif (top - end).days > m.MAX_GAP_DAYS:
            out.append(
                f"{symbol}: data ends {end}, {(top - end).days} days before {top_symbol}'s; {why}"
            )
    return out


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def render_note(
    note: NoteText,
    regions: list[Region],
    env: SandboxedEnvironment,
    context: Mapping[str, Any],
    path: Path | str = "",
) -> str:
    """The note's new text: every region present re-rendered, all else as it was.

    Nothing rendered can break the note's markers: each region's text is checked, and
    the whole note must read back with the regions it had (MarkerError otherwise).
    """
    context = one_line_values(context)
    contents = {}
    for r in regions:
        contents[r.name] = render_region(env, r.name, context)
        check_rendered(r.name, contents[r.name], path)
    text = replace_regions(note, regions, contents)
    if text != note.text:
        check_same_regions(regions, text, path)
    return text
