"""Pure pandas: returns, windows and rebased series from daily closes.

Conventions (documented in docs/frontmatter.md):
- every figure uses closes only, on or before the as-of session;
- an N-month return compares with the last close on or before the same
  calendar day N months earlier; YTD with the last close of the prior year;
- an event window's move runs from the close of the last session before the
  window's first day to the close of the last session on or before its end;
- distance from the 52-week high uses the highest close of the past 365 days.
Where a figure cannot be computed it is None with a reason, never a guess:
- a close it needs is more than ``MAX_GAP_DAYS`` calendar days from the day it
  stands for (a hole in the data, or data that ends early), or
- the close it stands for was in the data but dropped as bad (NaN, zero,
  negative, outside any traded range, a spike: see ``marketdata.clean_closes``,
  which lists those dates in ``series.attrs["dropped"]``), so an older close
  would silently stand in, or
- there is only one session.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

#: The longest stretch without a close that is still ordinary (weekends,
#: holidays, the 2001 and 2012 closures): a longer one is a hole in the data.
MAX_GAP_DAYS = 10

#: ``series.attrs`` key: the dates whose rows were dropped as bad data.
DROPPED = "dropped"


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
    """The last close dated ``day`` or earlier, with its date (None if there is none).

    A binary search on the dates (ascending, as every provider's cleaned series is): a run
    asks this thousands of times, and ``upto``'s slice builds a Series each time (four times
    the cost). An index out of order is sliced as before."""
    index = series.index
    if not index.is_monotonic_increasing:
        s = upto(series, day)
        if s.empty:
            return None
        return s.index[-1].date(), float(s.iloc[-1])
    i = int(index.searchsorted(pd.Timestamp(day), side="right"))
    if i == 0:
        return None
    return index[i - 1].date(), float(series.iloc[i - 1])


def dropped_dates(series: pd.Series) -> tuple[dt.date, ...]:
    """Dates of rows the provider dropped as bad data (ascending; empty if none)."""
    return tuple(series.attrs.get(DROPPED, ()))


def _dropped_in(dropped: Sequence[dt.date], after: dt.date, upto_day: dt.date) -> dt.date | None:
    """The last dropped date in ``(after, upto_day]``: the close that should have been used."""
    hits = [d for d in dropped if after < d <= upto_day]
    return hits[-1] if hits else None


def _bad_close(day: dt.date) -> str:
    return f"the close of {day} was dropped as bad data"


def first_gap(dates: Sequence[dt.date]) -> tuple[dt.date, dt.date] | None:
    """The first pair of consecutive closes more than ``MAX_GAP_DAYS`` apart."""
    for a, b in zip(dates, dates[1:], strict=False):
        if (b - a).days > MAX_GAP_DAYS:
            return a, b
    return None


def _change(
    series: pd.Series,
    start_day: dt.date,
    end_day: dt.date,
    what: str,
    dropped: Sequence[dt.date],
) -> Figure:
    a = close_on_or_before(series, start_day)
    b = close_on_or_before(series, end_day)
    if b is None:
        return _na(f"no data on or before {end_day}")
    if a is None:
        return _na(f"no data before {start_day} for the {what}")
    if (end_day - b[0]).days > MAX_GAP_DAYS:
        later = series.loc[pd.Timestamp(end_day) + pd.Timedelta(days=1) :]
        if later.empty:
            return _na(f"data ends {b[0]}, {(end_day - b[0]).days} days before {end_day}")
        return _na(f"no close between {b[0]} and {later.index[0].date()} (data gap)")
    if (start_day - a[0]).days > MAX_GAP_DAYS:
        return _na(
            f"the last close on or before {start_day} is {a[0]}, "
            f"{(start_day - a[0]).days} days earlier (data gap)"
        )
    if a[0] >= b[0]:
        return _na(f"no session between {a[0]} and {end_day}")
    for after, day in ((a[0], start_day), (b[0], end_day)):
        if (bad := _dropped_in(dropped, after, day)) is not None:
            return _na(_bad_close(bad))
    return Figure((b[1] / a[1] - 1.0) * 100.0)


def change(series: pd.Series, start_day: dt.date, end_day: dt.date, what: str) -> Figure:
    """Percent change from the close on/before ``start_day`` to the close on/before ``end_day``.

    None with a reason when either close is missing, more than ``MAX_GAP_DAYS``
    older than the day it stands for, or stands in for a close dropped as bad.
    """
    return _change(series, start_day, end_day, what, dropped_dates(series))


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


def _one_day(s: pd.Series, dropped: Sequence[dt.date]) -> Figure:
    if len(s) < 2:
        return _na("only one session of data")
    prev, day = s.index[-2].date(), s.index[-1].date()
    if (day - prev).days > MAX_GAP_DAYS:
        return _na(f"the previous close is {prev}, {(day - prev).days} days earlier (data gap)")
    if (bad := _dropped_in(dropped, prev, day - dt.timedelta(days=1))) is not None:
        return _na(_bad_close(bad))
    return Figure((float(s.iloc[-1]) / float(s.iloc[-2]) - 1.0) * 100.0)


def _from_high(s: pd.Series, dropped: Sequence[dt.date]) -> Figure:
    """Last close vs the highest close of the 365 days to it, if the data covers them."""
    if len(s) < 2:
        return _na("only one session of data")
    day = s.index[-1].date()
    start = day - dt.timedelta(days=365)
    before = s.loc[: pd.Timestamp(start)]
    window = s.loc[pd.Timestamp(start) :]
    if before.empty and (window.index[0].date() - start).days > MAX_GAP_DAYS:
        return _na(f"data starts {window.index[0].date()}, less than 52 weeks before {day}")
    dates = ([before.index[-1].date()] if not before.empty else []) + [
        d.date() for d in window.index
    ]
    if (gap := first_gap(dates)) is not None:
        return _na(f"no close between {gap[0]} and {gap[1]} (data gap)")
    if (bad := _dropped_in(dropped, start - dt.timedelta(days=1), day)) is not None:
        return _na(_bad_close(bad))
    return Figure((float(s.iloc[-1]) / float(window.max()) - 1.0) * 100.0)


def ticker_stats(
    symbol: str, series: pd.Series | None, as_of: dt.date, missing: str = "no data"
) -> TickerStats:
    """A symbol's figures as of its last session on or before ``as_of``.

    A symbol whose data ends before ``as_of`` is ``stale``: its figures are as of
    its own last session (the tables say "data to ..."), except YTD, which is
    None when that session is in an earlier year than ``as_of``.
    """
    if series is None or (last := close_on_or_before(series, as_of)) is None:
        reason = missing if series is None else f"no data on or before {as_of}"
        na = _na(reason)
        return TickerStats(symbol, None, None, na, na, na, na, na, na, notes=[reason])
    day, close = last
    dropped = dropped_dates(series)
    s = upto(series, day)
    notes = []
    stale = day < as_of
    if stale:
        notes.append(f"{symbol}: data ends {day}")

    def chg(start: dt.date, what: str) -> Figure:
        if len(s) < 2:
            return _na("only one session of data")
        return _change(s, start, day, what, dropped)

    if day.year < as_of.year:
        ytd = _na(f"data ends {day}, before {as_of.year} began")
    else:
        ytd = chg(dt.date(day.year - 1, 12, 31), "year-to-date return")
    return TickerStats(
        symbol,
        day,
        close,
        _one_day(s, dropped),
        chg(months_before(day, 1), "1-month return"),
        chg(months_before(day, 3), "3-month return"),
        chg(months_before(day, 12), "1-year return"),
        ytd,
        _from_high(s, dropped),
        stale,
        notes,
    )


def window_move(
    series: pd.Series | None,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    missing: str = "no data",
) -> Figure:
    """Move over an event window: close before ``start`` to close of the last session by ``end``."""
    if series is None:
        return _na(missing)
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


def chart_problem(series: pd.Series, as_of: dt.date, days: int) -> str | None:
    """Why ``series`` cannot be drawn rebased over the ``days`` to ``as_of``, or None.

    A line must have a close near each end of the window (within
    ``MAX_GAP_DAYS``), no hole of more than that in between, at least two
    sessions, and neither end standing in for a close dropped as bad:
    otherwise its move would silently cover another span than the caption says.
    """
    s = upto(series, as_of)
    if s.empty:
        return f"no data on or before {as_of}"
    start = as_of - dt.timedelta(days=days)
    window = s.loc[pd.Timestamp(start) :]
    last = s.index[-1].date()
    if (as_of - last).days > MAX_GAP_DAYS:
        return f"data ends {last}, {(as_of - last).days} days before {as_of}"
    if len(window) < 2:
        count = "only one session" if len(window) == 1 else "no session"
        return f"{count} in the {days} days to {as_of}"
    before = s.loc[: pd.Timestamp(start)]
    first = window.index[0].date()
    if before.empty and (first - start).days > MAX_GAP_DAYS:
        return f"data starts {first}, after the window start {start}"
    dates = ([before.index[-1].date()] if not before.empty else []) + [
        d.date() for d in window.index
    ]
    if (gap := first_gap(dates)) is not None:
        return f"no close between {gap[0]} and {gap[1]} (data gap)"
    dropped = dropped_dates(series)
    bad = _dropped_in(dropped, start - dt.timedelta(days=1), first - dt.timedelta(days=1))
    bad = bad or _dropped_in(dropped, last, as_of)
    if bad is not None:
        return _bad_close(bad)
    return None


def ratio_gap(long: float, short: float) -> float | None:
    """How far ``long`` sits from ``short``, in percent (18 vs 26 -> -30.8)."""
    if short == 0 or math.isnan(short) or math.isnan(long):
        return None
    return (long / short - 1.0) * 100.0
