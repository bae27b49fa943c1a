"""One builder per region: :class:`Facts` in, that region's typed context out.

A builder computes only from ``facts`` (the spec, prices, session, catalyst windows and
the charts drawn); the registry (``thesis.registry``) says which builder feeds which
template. Every figure comes from ``thesis.metrics``. Pure: no file, no network.
"""

from __future__ import annotations

import datetime as dt

from rotation_notes.defaults import BEHIND_AFTER_SESSIONS
from rotation_notes.output.templates import fmt_number, fmt_pct, fmt_pp, fmt_price
from rotation_notes.prices.marketdata import PriceSet, data_warnings
from rotation_notes.thesis import analytics as a
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.context import (
    BaseContext,
    CatalystRow,
    CatalystsContext,
    ChartsContext,
    ChartView,
    DataView,
    HeadlineContext,
    HistoryContext,
    LegView,
    LevelView,
    MetricRow,
    Move,
    PeriodRow,
    ReactionCell,
    ScorecardContext,
    ScorecardView,
    SetupContext,
    StatusContext,
    SymbolName,
    TrackingContext,
    TrackingRow,
    UpdatedContext,
)
from rotation_notes.thesis.facts import CatalystProblem, Facts, na_lines
from rotation_notes.thesis.spec import Leg, Level, ThesisSpec


def _leg(facts: Facts, leg: Leg) -> LegView:
    return LegView(
        leg.label, leg.ticker, leg.index, facts.name(leg.ticker), facts.stats(leg.ticker)
    )


def build_base(facts: Facts) -> BaseContext:
    long, short = facts.legs()
    return BaseContext(facts.as_of, facts.requested, _leg(facts, long), _leg(facts, short))


def build_headline(facts: Facts) -> HeadlineContext:
    base = build_base(facts)
    long, short = base.long, base.short
    ytd_spread = m.spread(long.stats.ytd, short.stats.ytd)
    return HeadlineContext(
        lead=long if (ytd_spread or 0) >= 0 else short,
        ytd_spread=ytd_spread,
        headline_na=[
            f"{leg.ticker}: n/a, {leg.stats.ytd.reason}"
            for leg in (long, short)
            if not leg.stats.ytd.ok
        ],
    )


def build_setup(facts: Facts) -> SetupContext:
    spec, as_of = facts.spec, facts.as_of
    setup_na = [
        line
        for leg in facts.legs()
        for line in na_lines(
            leg.ticker,
            [
                ("YTD", facts.stats(leg.ticker).ytd),
                ("3-month", facts.stats(leg.ticker).ret_3m),
                ("1-year", facts.stats(leg.ticker).ret_1y),
                ("from 52-week high", facts.stats(leg.ticker).from_high),
            ],
        )
    ]
    rows = []
    for hm in spec.metrics:
        age = (as_of - hm.as_of).days
        rows.append(
            MetricRow(
                name=hm.name,
                long=hm.long,
                short=hm.short,
                unit=hm.unit,
                source=hm.source,
                as_of=hm.as_of,
                age_days=age,
                stale=age > spec.stale_after_days,
                gap=hm.gap,
                gap_pct=m.ratio_gap(hm.long, hm.short),
            )
        )
    return SetupContext(setup_na, rows, spec.stale_after_days)


def build_tracking(facts: Facts) -> TrackingContext:
    spec, as_of = facts.spec, facts.as_of
    compare_stats = facts.stats(spec.compare)
    rows = []
    for symbol in spec.tracking:
        st = facts.stats(symbol)
        ref = compare_stats
        if st.last_session is not None and st.last_session < as_of:
            ref = facts.stats(spec.compare, st.last_session)  # compare like with like
        spread_ytd = m.spread(st.ytd, ref.ytd)
        figures = [("1D", st.ret_1d), ("1M", st.ret_1m), ("3M", st.ret_3m), ("YTD", st.ytd)]
        if symbol != spec.compare and st.ytd.ok and spread_ytd is None:
            why = f"{spec.compare}'s YTD to {ref.last_session or as_of} is n/a ({ref.ytd.reason})"
            figures.append((f"YTD vs {spec.compare}", m.Figure(None, why)))
        rows.append(
            TrackingRow(
                symbol=symbol,
                description=facts.name(symbol),
                stats=st,
                is_compare=symbol == spec.compare,
                spread_ytd=spread_ytd,
                na=na_lines(symbol, figures) if st.close is not None else [],
            )
        )
    return TrackingContext(rows, spec.compare)


def _moves(facts: Facts, symbols: tuple[str, ...], figures: list[m.Figure]) -> list[Move]:
    return [Move(s, facts.name(s), fig) for s, fig in zip(symbols, figures, strict=True)]


def _pair_spread(moves: list[Move]) -> float | None:
    """The first symbol's move less the second's, when there are two."""
    return m.spread(moves[0].move, moves[1].move) if len(moves) >= 2 else None


def _na(subject: str, moves: list[Move]) -> list[str]:
    return [f"{subject}, {x.symbol}: n/a, {x.move.reason}" for x in moves if not x.move.ok]


def build_catalysts(facts: Facts) -> CatalystsContext:
    symbols = facts.spec.catalyst_symbols
    rows = []
    for i, c in enumerate(facts.catalysts):
        moves = _moves(facts, symbols, facts.window_moves(i))
        if isinstance(c, CatalystProblem):
            rows.append(
                CatalystRow(
                    title=c.title,
                    link=c.link.target,
                    alias=c.link.alias,
                    start=None,
                    end=None,
                    moves=moves,
                    partial=False,
                    future=False,
                    spread=None,
                    na=[problem_line(c)],
                    problem=c.reason,
                )
            )
            continue
        anchor = facts.anchor(i)
        future = anchor.start > facts.as_of
        reactions = []
        if not future:
            for n, (to, figures) in facts.reactions(i).items():
                cells = _moves(facts, symbols, figures)
                what = f"{c.title}, {n} session{'s' * (n != 1)} after"
                pending = to is not None and to > facts.as_of
                reactions.append(
                    ReactionCell(
                        n,
                        to,
                        cells,
                        _pair_spread(cells),
                        [] if pending else _reaction_na(what, cells),
                        pending,
                    )
                )
        rows.append(
            CatalystRow(
                title=c.title,
                link=c.link.target,
                alias=c.link.alias,
                start=c.start,
                end=c.end,
                moves=moves,
                partial=anchor.start <= facts.as_of < anchor.end,
                future=future,
                spread=_pair_spread(moves),
                na=[] if future else _na(c.title, moves),
                problem=None,
                confidence=c.confidence,
                time=c.time,
                first_session=anchor.start,
                last_session=anchor.end,
                anchor_note=anchor.note,
                reactions=reactions,
                sessions_until=a.sessions_until(facts.as_of, anchor.start) if future else None,
            )
        )
    return CatalystsContext([SymbolName(s, facts.name(s)) for s in symbols], rows)


def _reaction_na(subject: str, moves: list[Move]) -> list[str]:
    """One line per distinct reason (the symbols share it when the data ends too soon)."""
    by_reason: dict[str, list[str]] = {}
    for x in moves:
        if not x.move.ok:
            by_reason.setdefault(x.move.reason, []).append(x.symbol)
    return [f"{subject}, {', '.join(syms)}: n/a, {why}" for why, syms in by_reason.items()]


def problem_line(c: CatalystProblem) -> str:
    """The line under the catalysts table saying why a catalyst's row is n/a."""
    return f"{c.title}: n/a, {c.reason}"


def build_history(facts: Facts) -> HistoryContext:
    symbols = facts.spec.history_symbols
    rows = []
    for i, p in enumerate(facts.spec.periods):
        moves = _moves(facts, symbols, facts.period_moves(i))
        rows.append(
            PeriodRow(
                label=p.label,
                setup=p.setup,
                start=p.start,
                end=p.end,
                to=facts.period_end(i),
                moves=moves,
                spread=_pair_spread(moves),
                na=_na(p.label, moves),
            )
        )
    return HistoryContext([SymbolName(s, facts.name(s)) for s in symbols], rows)


def _pair_name(facts: Facts) -> str:
    return f"{facts.spec.long.ticker}/{facts.spec.short.ticker}"


def build_scorecard(facts: Facts) -> ScorecardContext:
    sc = facts.scorecard()
    if isinstance(sc, str):
        return ScorecardContext(None, sc)
    path, spec = sc.path, facts.spec
    pair = _pair_name(facts)
    since = f"Since {path.opened}"
    if path.open_session != path.opened:
        since += f" (open session {path.open_session})"
    count = f"{path.sessions} session{'s' * (path.sessions != 1)}"
    if sc.current_drawdown_pct is None:
        from_peak = f"ratio drawdown n/a ({path.problem})"
    elif round(sc.current_drawdown_pct, 1) == 0:
        from_peak = "ratio at its peak"
    else:
        from_peak = f"ratio {fmt_pct(sc.current_drawdown_pct)} from its peak"
    summary = f"{since}: {pair} spread {fmt_pp(sc.spread_pp)} over {count}; {from_peak}."
    return ScorecardContext(
        ScorecardView(
            opened=path.opened,
            opened_from=spec.opened_from,
            open_session=path.open_session,
            as_of=path.as_of,
            sessions=path.sessions,
            long_pct=sc.long_pct,
            short_pct=sc.short_pct,
            spread_pp=sc.spread_pp,
            ratio_pct=sc.ratio_pct,
            best_spread_pp=sc.best[0] if sc.best else None,
            best_session=sc.best[1] if sc.best else None,
            worst_spread_pp=sc.worst[0] if sc.worst else None,
            worst_session=sc.worst[1] if sc.worst else None,
            peak_session=sc.peak_session,
            max_drawdown_pct=sc.max_drawdown_pct,
            max_drawdown_session=sc.max_drawdown_session,
            current_drawdown_pct=sc.current_drawdown_pct,
            benchmark=sc.benchmark,
            benchmark_pct=sc.benchmark_pct,
            long_excess_pp=sc.long_excess_pp,
            short_excess_pp=sc.short_excess_pp,
            path_problem=path.problem,
            summary=summary,
        ),
        "",
    )


#: The words for a level's state, by kind: (hit, near, not hit).
_STATE_WORDS = {
    "invalidation": ("invalidated", "near", "intact"),
    "stop": ("stop hit", "near", "not hit"),
    "target": ("target reached", "near", "not reached"),
}


def level_format(facts: Facts, level: Level) -> tuple[str, str]:
    """What a level is measured on, in words, and how its values are written ("pp", ...)."""
    if level.on == "spread":
        return f"{_pair_name(facts)} spread", "pp"
    if level.on == "ratio":
        return f"{_pair_name(facts)} ratio", "pct"
    return f"{level.on} close", "price"


def _fmt(value: float | None, unit: str) -> str:
    if unit == "pp":
        return fmt_pp(value)
    if unit == "pct":
        return fmt_pct(value)
    return fmt_price(value)


def level_text(value: float, unit: str) -> str:
    """A level as the user wrote it: ``-15 pp``, ``+10%``, ``240.00``."""
    if unit == "price":
        return fmt_price(value)
    text = fmt_number(value, 2)
    if "." in text and "e" not in text:  # -5.50 -> -5.5, as typed
        text = text.rstrip("0").rstrip(".")
    text = text if text.startswith("-") or value == 0 else f"+{text}"
    return f"{text} pp" if unit == "pp" else f"{text}%"


def _level_words(facts: Facts, st: a.LevelState, unit: str, what: str) -> tuple[str, str, str]:
    """A level's callout type, the word for its state and its line:
    "IWM close below 240.00: first crossed 2026-03-30 (239.04); now 299.96, back above"."""
    lv = st.level
    hit, near, not_hit = _STATE_WORDS[lv.kind]
    if st.status is None:
        return "warning", "not checked", f"{what}: n/a, {st.reason}."
    now = _fmt(st.value, unit)
    if st.value_session != facts.as_of:
        now += f" (on {st.value_session})"
    if st.status == "hit":
        crossed = (
            f"already past it at the open session, {st.first_crossed}"
            if st.past_at_open
            else f"first crossed {st.first_crossed}"
        )
        back = "" if st.beyond_now else f", back {_OTHER_SIDE[lv.direction]} the level"
        text = f"{what}: {crossed} ({_fmt(st.first_value, unit)}); now {now}{back}"
        callout, word = ("success" if lv.kind == "target" else "danger"), hit
    else:
        path = facts.path()
        since = path.open_session if isinstance(path, a.PairPath) else facts.as_of
        away = _distance(abs((st.value or 0.0) - lv.value), unit)
        text = f"{what}: now {now}, {away} away; not crossed since {since}"
        if st.status == "near":
            text += f" (near: within {_distance(st.near_within, unit)})"
        callout, word = ("warning", near) if st.status == "near" else ("note", not_hit)
    return callout, word, text + (f" ({st.reason})." if st.reason else ".")


_OTHER_SIDE = {"below": "above", "above": "below"}


def _distance(points: float, unit: str) -> str:
    """How far a value is from a level, in the level's units: a ratio level is in percent since
    opened, so the distance between two such values is in points, not a percent move."""
    if unit == "pct":
        return f"{fmt_pct(points).lstrip('+')[:-1]} pts"
    return _fmt(points, unit).lstrip("+")


def build_status(facts: Facts) -> StatusContext:
    views = []
    for st in facts.levels():
        lv = st.level
        measure, unit = level_format(facts, lv)
        shown_level = level_text(lv.value, unit)
        callout, word, text = _level_words(
            facts, st, unit, f"{measure} {lv.direction} {shown_level}"
        )
        views.append(
            LevelView(
                name=lv.name,
                kind=lv.kind,
                on=lv.on,
                direction=lv.direction,
                level=lv.value,
                measure=measure,
                level_text=shown_level,
                status=st.status,
                value=st.value,
                value_text=_fmt(st.value, unit),
                value_session=st.value_session,
                first_crossed=st.first_crossed,
                beyond_now=st.beyond_now,
                near_within=st.near_within,
                callout=callout,
                title=f"{lv.name}: {word}",
                text=text,
                reason=st.reason,
            )
        )
    return StatusContext(views)


def build_charts(facts: Facts) -> ChartsContext:
    views = [
        ChartView(
            file=c.file,
            path=c.rel,
            embed=c.embed,
            caption=c.caption,
            divergence=c.result.divergence,
            moves=c.result.moves,
            first_session=c.result.first_session,
            last_session=c.result.last_session,
            kind=c.kind,
        )
        for c in facts.charts
    ]
    return ChartsContext(views, list(facts.charts_skipped))


def data_behind(
    spec: ThesisSpec, prices: PriceSet, last: dt.date, requested: dt.date | None
) -> str:
    """Why the note's data is old, if it ends (``last``, its session) more than
    ``BEHIND_AFTER_SESSIONS`` sessions before the last session closed when the prices were
    asked for (``prices.asked_at``), or before the ``requested`` (--as-of) date if that is
    earlier; else "". No count and no date of the run: the note changes only with new data.
    Measured on this note's data alone, whatever else the run loaded.
    """
    asked = prices.asked_at
    if asked is None:
        return ""  # nothing to compare with (a PriceSet by hand)
    if (asked.astimezone(dt.UTC).date() - last).days <= BEHIND_AFTER_SESSIONS:
        return ""  # so few days cannot hold more sessions (and the calendar is not loaded)
    from rotation_notes import clock

    reference, before = clock.last_closed_session(asked), "this run"
    if requested is not None and requested < reference:
        reference, before = requested, f"{requested}, the date asked for"
    if clock.count_sessions(last, reference) <= BEHIND_AFTER_SESSIONS:
        return ""
    legs = [prices.sources.get(leg.ticker) for leg in (spec.long, spec.short)]
    if all(src is not None and src.kind == "csv" for src in legs):
        fix = "update the CSV files in the data folder"  # --data DIR: the user's own files
    else:
        fix = "refresh with network, or update the data folder"
    return f"Data ends {last}, more than {BEHIND_AFTER_SESSIONS} sessions before {before}: {fix}."


def build_updated(facts: Facts) -> UpdatedContext:
    spec, prices = facts.spec, facts.prices
    sources = [
        {"symbol": s, **prices.sources[s].to_json()} for s in spec.symbols() if s in prices.sources
    ]
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
    problems += facts.held_back()
    skipped = [f"Chart {c.file} {c.reason}." for c in facts.charts_skipped]
    behind = data_behind(spec, prices, facts.as_of, facts.requested)
    return UpdatedContext(
        DataView(
            providers=sorted({src["provider"] for src in sources}),
            latest_session=max(
                (src["last_session"] for src in sources if src["last_session"]), default=None
            ),
            warnings=([behind] if behind else []) + not_live + problems + skipped,
            not_live=not_live,
            problems=problems,
            sources=sources,
            behind=behind,
        )
    )


def na_notes(facts: Facts) -> list[str]:
    """Every figure's reason for n/a, once each (the ``notes`` every template may use)."""
    notes: list[str] = []
    for symbol in facts.spec.tracking:
        notes.extend(facts.stats(symbol).notes)
    for i, c in enumerate(facts.catalysts):
        if isinstance(c, CatalystProblem):
            notes.append(problem_line(c))
            continue
        for s, fig in zip(facts.spec.catalyst_symbols, facts.window_moves(i), strict=True):
            if not fig.ok:
                notes.append(f"{c.title}, {s}: {fig.reason}")
    for i, p in enumerate(facts.spec.periods):
        for s, fig in zip(facts.spec.history_symbols, facts.period_moves(i), strict=True):
            if not fig.ok:
                notes.append(f"{p.label}, {s}: {fig.reason}")
    return list(dict.fromkeys(notes))
