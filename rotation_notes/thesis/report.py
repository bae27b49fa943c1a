"""A thesis's figures for scripts: the per-note part of ``refresh --json``.

Every figure is the one the note shows (the same :class:`Facts`), rounded to 4 digits,
with ``reasons`` saying why each null figure is null.
"""

from __future__ import annotations

from typing import Any

from rotation_notes.thesis import metrics as m
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
        out.append(
            {
                "note": c.note,
                "start": window.start.isoformat() if window else None,
                "end": window.end.isoformat() if window else None,
                "moves": {s: _round(fig.pct) for s, fig in moves},
                # why each null move is null ({} when none is): a stable shape for scripts
                "reasons": {s: fig.reason for s, fig in moves if not fig.ok},
            }
        )
    return out
