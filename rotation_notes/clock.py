"""One market clock: the NYSE session calendar (``exchange_calendars`` XNYS), early closes included.

The Yahoo provider (is the cache current? which bar is final?), the watcher (when to reload
prices) and the scheduler (is there a new session to process?) all ask this module. A session's
daily bar counts as final ``SETTLE`` after its close: 16:30 New York on a normal day, 13:30 on an
early close (the day after Thanksgiving, Christmas Eve). Holidays are not sessions.

``exchange_calendars`` takes a moment to import and to build its schedule, so it is imported on
first use and one calendar per year asked about is kept.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import warnings
from typing import Any

#: A session's daily bar is final this long after its close (Yahoo settles a little after
#: the bell); the watcher, the Yahoo provider and scheduled runs all wait this long.
SETTLE = dt.timedelta(minutes=30)

#: Tests only: pretend it is this instant (ISO 8601), for scheduled runs in a subprocess.
NOW_ENV = "ROTATION_NOTES_NOW"


def now_utc() -> dt.datetime:
    """The current instant (``ROTATION_NOTES_NOW`` overrides it, for tests)."""
    fake = os.environ.get(NOW_ENV)
    if fake:
        return dt.datetime.fromisoformat(fake.replace("Z", "+00:00"))
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=4)
def _calendar(year: int) -> Any:
    """XNYS from the start of the year before ``year`` to the end of the year after it."""
    with warnings.catch_warnings():  # pandas deprecations inside exchange_calendars
        warnings.simplefilter("ignore")
        import exchange_calendars as xcals

        return xcals.get_calendar("XNYS", start=f"{year - 1}-01-01", end=f"{year + 1}-12-31")


def _closes(year: int) -> Any:
    """The close of every session (a pandas Series: session date -> close, UTC)."""
    return _calendar(year).schedule["close"]


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError(f"{when} has no time zone")
    return when.astimezone(dt.UTC)


def last_closed_session(now: dt.datetime) -> dt.date:
    """The latest session whose close (early closes included) settled by ``now``."""
    now = _utc(now)
    closes = _closes(now.year)
    settled = closes[closes + SETTLE <= now]
    return settled.index[-1].date()


def is_session(day: dt.date) -> bool:
    """Whether the NYSE trades on ``day`` (not a weekend or a holiday)."""
    return bool(_calendar(day.year).is_session(day.isoformat()))


def session_close(session: dt.date) -> dt.datetime:
    """When ``session`` closes (UTC): 16:00 New York, or 13:00 on an early close."""
    closes = _closes(session.year)
    if session.isoformat() not in closes.index:
        raise ValueError(f"{session} is not an NYSE session")
    close = closes.loc[session.isoformat()]
    return close.to_pydatetime().astimezone(dt.UTC)


def settled_at(session: dt.date) -> dt.datetime:
    """When ``session``'s daily bar is final: ``SETTLE`` after its close."""
    return session_close(session) + SETTLE


def next_session(day: dt.date) -> dt.date:
    """The first session after ``day``."""
    closes = _closes(day.year)  # its calendar reaches into the next year
    return closes.index[closes.index > day.isoformat()][0].date()


def sessions_in(after: dt.date, upto: dt.date) -> tuple[dt.date, ...]:
    """The sessions after ``after``, up to ``upto`` included, in order."""
    out: list[dt.date] = []
    for year in range(after.year, upto.year + 1):
        days = _closes(year).index  # its calendar spans the years either side: keep ``year``'s
        lo = max(after + dt.timedelta(days=1), dt.date(year, 1, 1)).isoformat()
        hi = min(upto, dt.date(year, 12, 31)).isoformat()
        out.extend(d.date() for d in days[(days >= lo) & (days <= hi)])
    return tuple(out)


def session_on_or_after(day: dt.date) -> dt.date:
    """``day`` if the NYSE trades on it, else the next session (a weekend or a holiday)."""
    return day if is_session(day) else next_session(day)


def sessions_after(day: dt.date, count: int) -> tuple[dt.date, ...]:
    """The first ``count`` sessions after ``day``, in order (ValueError if the calendar has
    fewer in the ``2 * count + 10`` days after it, which holds at least ``count`` sessions)."""
    out = sessions_in(day, day + dt.timedelta(days=2 * count + 10))
    if len(out) < count:
        raise ValueError(f"the NYSE calendar has {len(out)} sessions after {day}, not {count}")
    return out[:count]


@functools.lru_cache(maxsize=256)
def count_sessions(after: dt.date, upto: dt.date) -> int:
    """How many sessions lie after ``after``, up to ``upto`` included.

    One calendar for the whole span, however many years it covers (a catalyst dated decades
    ahead must not build a calendar per year), and each count once per process.
    """
    if upto <= after:
        return 0
    if upto.year - after.year <= 1:
        return len(sessions_in(after, upto))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import exchange_calendars as xcals

        cal = xcals.get_calendar(
            "XNYS", start=(after + dt.timedelta(days=1)).isoformat(), end=upto.isoformat()
        )
        return len(cal.sessions)
