"""A thesis's figures for scripts: the per-note part of ``refresh --json``.

Every figure is the one the note shows (the same :class:`Facts`), rounded to 4 digits,
with ``reasons`` saying why each null figure is null.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.analytics import REACTION_SESSIONS, sessions_until
from rotation_notes.thesis.facts import CatalystProblem, Facts


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def tickers_report(facts: Facts) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for symbol in facts.spec.symbols():
        st = facts.stats(symbol)
        out[symbol] = {
            "close": None if st.close is None else round(st.close, 4),
            "last_session": st.last_session.isoformat() if st.last_session else None,
            "ret_1d_pct": _round(st.ret_1d.pct),
            "ret_1m_pct": _round(st.ret_1m.pct),
            "ret_3m_pct": _round(st.ret_3m.pct),
            "ytd_pct": _round(st.ytd.pct),
        }
        out[symbol]["reasons"] = {  # why each null figure is null
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
    return out


def catalysts_report(facts: Facts) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(facts.catalysts):
        moves = list(zip(facts.spec.catalyst_symbols, facts.window_moves(i), strict=True))
        # a catalyst note that gives no window: no dates, and each move's reason says why
        window = None if isinstance(c, CatalystProblem) else c
        anchor = facts.anchor(i) if window else None
        upcoming = anchor is not None and anchor.start > facts.as_of
        if upcoming:
            reactions: dict[str, Any] = {str(n): None for n in REACTION_SESSIONS}
            why = f"the window starts after the last session used ({facts.as_of})"
            reaction_reasons = {str(n): why for n in REACTION_SESSIONS}
        else:
            reactions, reaction_reasons = reactions_report(facts, i)
        out.append(
            {
                "note": c.note,
                "start": window.start.isoformat() if window else None,
                "end": window.end.isoformat() if window else None,
                "first_session": _day(anchor.start) if anchor else None,
                "last_session": _day(anchor.end) if anchor else None,
                "time": (window.time or None) if window else None,
                "confidence": (window.confidence or None) if window else None,
                "upcoming": upcoming,
                "sessions_until": (
                    sessions_until(facts.as_of, anchor.start) if anchor and upcoming else None
                ),
                "moves": {s: _round(fig.pct) for s, fig in moves},
                # why each null move is null ({} when none is): a stable shape for scripts
                "reasons": {s: fig.reason for s, fig in moves if not fig.ok},
                "reactions": reactions,
                "reaction_reasons": reaction_reasons,
            }
        )
    return out


def _day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


#: Every key of a note's ``scorecard`` in ``--json``, in order.
SCORECARD_KEYS = (
    "opened",
    "open_session",
    "sessions",
    "spread_pp",
    "ratio_pct",
    "max_drawdown_pct",
    "current_drawdown_pct",
    "long_pct",
    "short_pct",
    "best_spread_pp",
    "best_session",
    "worst_spread_pp",
    "worst_session",
    "peak_session",
    "max_drawdown_session",
    "benchmark",
    "benchmark_pct",
    "long_excess_pp",
    "short_excess_pp",
    "reason",
)


def scorecard_report(facts: Facts) -> dict[str, Any]:
    """The scorecard since the thesis was opened; its figures null with ``reason`` when there
    is none (no opened date, opened after the session used...)."""
    sc = facts.scorecard()
    if isinstance(sc, str):  # the same keys, null, so a script can read them either way
        return {
            **dict.fromkeys(SCORECARD_KEYS),
            "opened": _day(facts.spec.opened),
            "benchmark": facts.spec.benchmark,
            "reason": sc,
        }
    path = sc.path
    return {
        "opened": path.opened.isoformat(),
        "open_session": path.open_session.isoformat(),
        "sessions": path.sessions,
        "spread_pp": _round(sc.spread_pp),
        "ratio_pct": _round(sc.ratio_pct),
        "max_drawdown_pct": _round(sc.max_drawdown_pct),
        "current_drawdown_pct": _round(sc.current_drawdown_pct),
        "long_pct": _round(sc.long_pct),
        "short_pct": _round(sc.short_pct),
        "best_spread_pp": _round(sc.best[0]) if sc.best else None,
        "best_session": _day(sc.best[1]) if sc.best else None,
        "worst_spread_pp": _round(sc.worst[0]) if sc.worst else None,
        "worst_session": _day(sc.worst[1]) if sc.worst else None,
        "peak_session": _day(sc.peak_session),
        "max_drawdown_session": _day(sc.max_drawdown_session),
        "benchmark": sc.benchmark,
        "benchmark_pct": _round(sc.benchmark_pct.pct),
        "long_excess_pp": _round(sc.long_excess_pp),
        "short_excess_pp": _round(sc.short_excess_pp),
        # "" when every figure is there; else why the path figures (or the benchmark's) are null
        "reason": "; ".join(
            r
            for r in (
                path.problem,
                sc.benchmark_pct.reason if sc.benchmark and not sc.benchmark_pct.ok else "",
            )
            if r
        ),
    }


def levels_report(facts: Facts) -> list[dict[str, Any]]:
    return [
        {
            "name": st.level.name,
            "kind": st.level.kind,
            "on": st.level.on,
            st.level.direction: st.level.value,
            "status": st.status,
            "first_crossed": _day(st.first_crossed),
            "value": _round(st.value),
            "value_session": _day(st.value_session),
            "near_within": _round(st.near_within),
            "reason": st.reason,
        }
        for st in facts.levels()
    ]


def reactions_report(facts: Facts, index: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Each reaction (``"1"``, ``"5"``, ``"20"``): its session, moves and spread, or null; and
    why each null one is null."""
    symbols = facts.spec.catalyst_symbols
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for n, (to, figures) in facts.reactions(index).items():
        key = str(n)
        if not any(f.ok for f in figures):
            out[key] = None
            reasons[key] = next((f.reason for f in figures), "no catalyst symbols")
            continue
        moves = dict(zip(symbols, figures, strict=True))
        pair = m.spread(figures[0], figures[1]) if len(figures) >= 2 else None
        out[key] = {
            "session": _day(to),
            "moves": {s: _round(f.pct) for s, f in moves.items()},
            "spread_pp": _round(pair),
            "reasons": {s: f.reason for s, f in moves.items() if not f.ok},
        }
    return out, reasons
