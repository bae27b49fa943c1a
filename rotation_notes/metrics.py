"""Pure pandas: returns, windows and rebased series from daily closes.

Conventions (documented in docs/frontmatter.md):
- every figure uses closes only, on or before the as-of session;
- an N-month return compares with the last close on or before the same
  calendar day N months earlier; YTD with the last close of the prior year;
- an event window's move runs from the close of the last session before the
  window's first day to the close of the last session on or before its end;
- distance from the 52-week high uses the highest close of the past 365 days.
Where a figure cannot be computed it is None with a reason, never a guess.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Figure:
    """A percent figure (5.8 means +5.8%), or None with the reason it is missing."""

    pct: float | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.pct is not None


def _na(reason: str) -> Figure:
    return Figure(None, reason)


def upto(series: pd.Series, day: dt.date) -> pd.Series:
    return series.loc[: pd.Timestamp(day)]


def close_on_or_before(series: pd.Series, day: dt.date) -> tuple[dt.date, float] | None:
    s = upto(series, day)
    if s.empty:
        return None
    return s.index[-1].date(), float(s.iloc[-1])


def change(series: pd.Series, start_day: dt.date, end_day: dt.date, what: str) -> Figure:
    """Percent change from the close on/before ``start_day`` to the close on/before ``end_day``."""
    a = close_on_or_before(series, start_day)
    b = close_on_or_before(series, end_day)
    if b is None:
        return _na(f"no data on or before {end_day}")
    if a is None:
        return _na(f"no data before {start_day} for the {what}")
    if a[0] >= b[0]:
        return _na(f"no session between {a[0]} and {end_day}")
    if start_day - a[0] > dt.timedelta(days=10):
        return _na(f"data gap: last close before {start_day} is {a[0]}")
    return Figure((b[1] / a[1] - 1.0) * 100.0)


def months_before(day: dt.date, months: int) -> dt.date:
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


@dataclass(frozen=True)
class TickerStats:
    symbol: str
    last_session: dt.date | None
    close: float | None
    ret_1d: Figure
    ret_1m: Figure
    ret_3m: Figure
    ret_1y: Figure
    ytd: Figure
    from_high: Figure
    stale: bool = False  # the last session is before the note's as-of session
    notes: list[str] = field(default_factory=list)


def ticker_stats(
    symbol: str, series: pd.Series | None, as_of: dt.date, missing: str = "no data"
) -> TickerStats:
    if series is None or (last := close_on_or_before(series, as_of)) is None:
        reason = missing if series is None else f"no data on or before {as_of}"
        na = _na(reason)
        return TickerStats(symbol, None, None, na, na, na, na, na, na, notes=[reason])
    day, close = last
    s = upto(series, day)
    if len(s) >= 2:
        prev = s.iloc[-2]
        ret_1d = Figure((close / float(prev) - 1.0) * 100.0)
    else:
        ret_1d = _na("only one session of data")
    window = s.loc[pd.Timestamp(day - dt.timedelta(days=365)) :]
    high = float(window.max())
    from_high = Figure((close / high - 1.0) * 100.0)
    notes = []
    stale = day < as_of
    if stale:
        notes.append(f"{symbol}: data ends {day}")
    return TickerStats(
        symbol,
        day,
        close,
        ret_1d,
        change(s, months_before(day, 1), day, "1-month return"),
        change(s, months_before(day, 3), day, "3-month return"),
        change(s, months_before(day, 12), day, "1-year return"),
        change(s, dt.date(day.year - 1, 12, 31), day, "year-to-date return"),
        from_high,
        stale,
        notes,
    )


def window_move(series: pd.Series | None, start: dt.date, end: dt.date, as_of: dt.date) -> Figure:
    """Move over an event window: close before ``start`` to close of the last session by ``end``."""
    if series is None:
        return _na("no data")
    if start > as_of:
        return _na(f"window starts {start}, after {as_of}")
    return change(series, start - dt.timedelta(days=1), min(end, as_of), "window")


def spread(a: Figure, b: Figure) -> float | None:
    """``a`` minus ``b`` in percentage points, or None."""
    if a.pct is None or b.pct is None:
        return None
    return a.pct - b.pct


def rebased(series: pd.Series, as_of: dt.date, days: int) -> pd.Series:
    """Percent change from the first close in the last ``days`` calendar days."""
    s = upto(series, as_of)
    s = s.loc[pd.Timestamp(as_of - dt.timedelta(days=days)) :]
    if s.empty:
        return s
    return (s / float(s.iloc[0]) - 1.0) * 100.0


def ratio_gap(long: float, short: float) -> float | None:
    """How far ``long`` sits from ``short``, in percent (18 vs 26 -> -30.8)."""
    if short == 0 or math.isnan(short) or math.isnan(long):
        return None
    return (long / short - 1.0) * 100.0
