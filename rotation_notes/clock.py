"""One market clock: the NYSE session calendar (``exchange_calendars`` XNYS), early closes included.

The Yahoo provider (is the cache current? which bar is final?), the watcher (when to reload
prices) and the scheduler (is there a new session to process?) all ask this module. A session's
daily bar counts as final ``SETTLE`` after its close: 16:30 New York on a normal day, 13:30 on an
early close (the day after Thanksgiving, Christmas Eve). Holidays are not sessions.

``exchange_calendars`` takes a moment to import and to build its schedule (~0.25 s, a fifth of
a one-note refresh), so it is imported on first use only, and the schedule it builds for a year
is kept: in memory (a few years per process), and on disk in the state folder's ``calendar/``
(``ROTATION_NOTES_STATE`` overrides it), one small JSON file per year and per version of
``exchange_calendars`` and pandas (a new version may know new holidays: it builds its own) and
of New York's daylight-saving rules (the closes are kept in UTC). A file that is not a whole,
plausible schedule is built again; a state folder that cannot be written only costs the build.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

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


#: The schedule files' format; a file of another format is built again.
_FORMAT = 1
#: Sessions a three-year schedule holds at least and at most (about 252 a year).
_FEWEST, _MOST = 3 * 240, 3 * 262


class _Schedule:
    """The NYSE sessions from the start of one year to the end of another, in order, with
    each session's close (UTC)."""

    def __init__(self, rows: list[tuple[dt.date, dt.datetime]]) -> None:
        self.days = [day for day, _ in rows]
        self.closes = dict(rows)
        self.settled = [close + SETTLE for _, close in rows]


def _build(year: int) -> list[tuple[dt.date, dt.datetime]]:
    """XNYS from the start of the year before ``year`` to the end of the year after it."""
    with warnings.catch_warnings():  # pandas deprecations inside exchange_calendars
        warnings.simplefilter("ignore")
        import exchange_calendars as xcals

        cal = xcals.get_calendar("XNYS", start=f"{year - 1}-01-01", end=f"{year + 1}-12-31")
    closes = cal.schedule["close"]
    return [(day.date(), close.to_pydatetime().astimezone(dt.UTC)) for day, close in closes.items()]


def _zone(year: int) -> str:
    """New York's UTC offsets on the 1st and 15th of every month of ``year``'s schedule, as a
    short digest: the closes are kept in UTC, so a change of the daylight-saving rules in the
    time-zone database (a law that moves or ends it) must name a schedule of its own."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    offsets = [
        dt.datetime(y, m, d, 12, tzinfo=zone).utcoffset()
        for y in (year - 1, year, year + 1)
        for m in range(1, 13)
        for d in (1, 15)
    ]
    text = ",".join(str(int(o.total_seconds()) // 60) for o in offsets if o is not None)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:8]


def _file(year: int) -> Path | None:
    """Where ``year``'s schedule is kept on disk, named by what builds it: the versions of
    exchange_calendars and pandas, and New York's offsets from UTC (``_zone``)."""
    from importlib.metadata import PackageNotFoundError, version

    from rotation_notes.vault.lock import state_dir

    try:
        versions = f"xcals-{version('exchange_calendars')}-pandas-{version('pandas')}"
        zone = _zone(year)
    except PackageNotFoundError:  # not installed as a distribution: nothing to name it by
        return None
    except (OSError, ValueError, LookupError):  # no time-zone database: nothing to name it by
        return None
    if not all(c.isalnum() or c in ".-+_" for c in versions):
        return None
    return state_dir() / "calendar" / f"xnys-{year}-{versions}-tz{zone}.json"


def _read(path: Path, year: int) -> list[tuple[dt.date, dt.datetime]] | None:
    """The schedule kept in ``path``, or None if it is not a whole, plausible one."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != _FORMAT or data.get("year") != year:
            return None
        rows = [
            (dt.date.fromisoformat(day), dt.datetime.fromtimestamp(close, dt.UTC))
            for day, close in data["sessions"]
            if isinstance(day, str) and isinstance(close, int)
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None
    if not _FEWEST <= len(rows) <= _MOST or len(rows) != len(data["sessions"]):
        return None
    first, last = dt.date(year - 1, 1, 1), dt.date(year + 1, 12, 31)
    previous = first - dt.timedelta(days=1)
    for day, close in rows:  # in order, in range, each closing on its own day
        if not previous < day <= last or close.date() != day:
            return None
        previous = day
    return rows


def _write(path: Path, year: int, rows: list[tuple[dt.date, dt.datetime]]) -> None:
    data = {
        "format": _FORMAT,
        "year": year,
        "sessions": [[day.isoformat(), int(close.timestamp())] for day, close in rows],
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only state folder: the next run builds it again
        log.debug("market calendar not kept in %s: %s", path.parent, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=4)
def _schedule(year: int) -> _Schedule:
    """The sessions from the start of the year before ``year`` to the end of the year after
    it: from the state folder if kept there, else built (and kept)."""
    path = _file(year)
    rows = _read(path, year) if path is not None else None
    if rows is None:
        rows = _build(year)
        if path is not None:
            _write(path, year, rows)
    return _Schedule(rows)


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError(f"{when} has no time zone")
    return when.astimezone(dt.UTC)


def last_closed_session(now: dt.datetime) -> dt.date:
    """The latest session whose close (early closes included) settled by ``now``."""
    now = _utc(now)
    schedule = _schedule(now.year)
    i = bisect.bisect_right(schedule.settled, now)
    if i == 0:
        raise IndexError(f"no session settled by {now} in the calendar")
    return schedule.days[i - 1]


def is_session(day: dt.date) -> bool:
    """Whether the NYSE trades on ``day`` (not a weekend or a holiday)."""
    return day in _schedule(day.year).closes


def session_close(session: dt.date) -> dt.datetime:
    """When ``session`` closes (UTC): 16:00 New York, or 13:00 on an early close."""
    close = _schedule(session.year).closes.get(session)
    if close is None:
        raise ValueError(f"{session} is not an NYSE session")
    return close


def settled_at(session: dt.date) -> dt.datetime:
    """When ``session``'s daily bar is final: ``SETTLE`` after its close."""
    return session_close(session) + SETTLE


def next_session(day: dt.date) -> dt.date:
    """The first session after ``day``."""
    days = _schedule(day.year).days  # its calendar reaches into the next year
    return days[bisect.bisect_right(days, day)]


def sessions_in(after: dt.date, upto: dt.date) -> tuple[dt.date, ...]:
    """The sessions after ``after``, up to ``upto`` included, in order."""
    out: list[dt.date] = []
    for year in range(after.year, upto.year + 1):
        days = _schedule(year).days  # it spans the years either side: keep ``year``'s
        lo = max(after + dt.timedelta(days=1), dt.date(year, 1, 1))
        hi = min(upto, dt.date(year, 12, 31))
        out.extend(days[bisect.bisect_left(days, lo) : bisect.bisect_right(days, hi)])
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
