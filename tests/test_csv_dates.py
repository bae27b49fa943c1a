"""Dates with a time after the day ("2026-08-21 00:00:00-04:00", as yfinance writes its
CSVs) name the exchange's day; a file of plain dates is not searched for times row by row,
which is exact only while no text shorter than the shortest such form can carry a time."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from rotation_notes.prices import marketdata
from rotation_notes.prices.marketdata import clean_closes


@given(st.from_regex(marketdata._TIME_AFTER_DAY, fullmatch=True))
def test_no_date_with_a_time_is_shorter_than_the_length_that_is_searched(text):
    assert re.fullmatch(marketdata._TIME_AFTER_DAY, text)
    assert len(text) >= marketdata._SHORTEST_TIME_AFTER_DAY


DAYS = ["2026-08-17", "2026-08-18", "2026-08-19", "2026-08-20", "2026-08-21"]
CLOSES = ["100.5", "101.25", "99.75", "102", "103.5"]


@given(st.lists(st.sampled_from(["", " 00:00", "T00:00:00Z", " 00:00:00-04:00"]), min_size=5,
                max_size=5))  # fmt: skip
def test_plain_and_timed_dates_give_the_same_closes(suffixes):
    plain, _ = clean_closes("IWM", pd.Series(DAYS), pd.Series(CLOSES))
    timed = [d + s for d, s in zip(DAYS, suffixes, strict=True)]
    mixed, warnings = clean_closes("IWM", pd.Series(timed), pd.Series(CLOSES))
    pd.testing.assert_series_equal(mixed, plain)
    assert warnings == []
    assert [d.date().isoformat() for d in plain.index] == DAYS
