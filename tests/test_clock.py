"""The one market clock: NYSE sessions, holidays, early closes and the settle delay."""

from __future__ import annotations

import datetime as dt

import pytest

from rotation_notes import clock


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_last_closed_session_knows_weekends_holidays_and_early_closes():
    lcs = clock.last_closed_session
    assert lcs(at("2026-11-21T12:00")) == dt.date(2026, 11, 20)  # Saturday
    assert lcs(at("2026-11-26T23:00")) == dt.date(2026, 11, 25)  # Thanksgiving
    # the day after closes early, at 13:00 New York (18:00 UTC); settled 30 minutes later
    assert lcs(at("2026-11-27T18:15")) == dt.date(2026, 11, 25)
    assert lcs(at("2026-11-27T18:45")) == dt.date(2026, 11, 27)
    assert lcs(at("2026-11-24T21:00")) == dt.date(2026, 11, 23)
    assert lcs(at("2026-11-24T21:31")) == dt.date(2026, 11, 24)
    # Independence Day observed on Friday 2026-07-03: Thursday is the last session
    assert lcs(at("2026-07-03T22:00")) == dt.date(2026, 7, 2)
    assert lcs(at("2026-07-06T12:00")) == dt.date(2026, 7, 2)
    # New Year: the previous year's last session
    assert lcs(at("2027-01-01T23:00")) == dt.date(2026, 12, 31)


def test_the_old_weekday_rules_still_hold():
    ny = dt.timezone(dt.timedelta(hours=-4))
    lcs = clock.last_closed_session
    assert lcs(dt.datetime(2026, 8, 21, 15, 0, tzinfo=ny)) == dt.date(2026, 8, 20)
    assert lcs(dt.datetime(2026, 8, 21, 17, 0, tzinfo=ny)) == dt.date(2026, 8, 21)
    assert lcs(dt.datetime(2026, 8, 23, 12, 0, tzinfo=ny)) == dt.date(2026, 8, 21)


def test_sessions_closes_and_settling():
    assert not clock.is_session(dt.date(2026, 7, 3))
    assert not clock.is_session(dt.date(2026, 11, 26))
    assert clock.is_session(dt.date(2026, 11, 27))
    assert clock.session_close(dt.date(2026, 11, 27)) == at("2026-11-27T18:00")
    assert clock.session_close(dt.date(2026, 8, 21)) == at("2026-08-21T20:00")  # EDT
    assert clock.session_close(dt.date(2026, 11, 24)) == at("2026-11-24T21:00")  # EST
    assert clock.settled_at(dt.date(2026, 11, 27)) == at("2026-11-27T18:00") + clock.SETTLE
    assert clock.next_session(dt.date(2026, 7, 2)) == dt.date(2026, 7, 6)
    assert clock.next_session(dt.date(2026, 12, 31)) == dt.date(2027, 1, 4)
    with pytest.raises(ValueError, match="not an NYSE session"):
        clock.session_close(dt.date(2026, 7, 3))


def test_now_can_be_set_for_tests(monkeypatch):
    monkeypatch.setenv(clock.NOW_ENV, "2026-08-24T23:00:00Z")
    assert clock.now_utc() == at("2026-08-24T23:00")
    monkeypatch.delenv(clock.NOW_ENV)
    assert abs(clock.now_utc() - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
