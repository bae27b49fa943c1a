"""``metrics.close_on_or_before`` by binary search gives what slicing the series up to the day
gives (the definition it replaced), for any dates, in order or not, and any day asked."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from rotation_notes.thesis import metrics

DAY0 = dt.date(2024, 1, 1)


def by_slice(series: pd.Series, day: dt.date) -> tuple[dt.date, float] | None:
    s = series.loc[: pd.Timestamp(day)]
    return None if s.empty else (s.index[-1].date(), float(s.iloc[-1]))


offsets = st.lists(st.integers(0, 800), min_size=0, max_size=40)


@given(offsets, st.integers(-30, 830), st.booleans())
def test_the_search_finds_the_close_the_slice_finds(days, ask, ordered):
    dates = sorted(set(days)) if ordered else list(dict.fromkeys(days))
    index = pd.DatetimeIndex([pd.Timestamp(DAY0 + dt.timedelta(days=d)) for d in dates])
    series = pd.Series([100.0 + i for i in range(len(index))], index=index, dtype=float)
    day = DAY0 + dt.timedelta(days=ask)
    try:
        expected = by_slice(series, day)
    except KeyError:  # pandas will not slice an unordered index by a missing label
        return
    assert metrics.close_on_or_before(series, day) == expected
