"""The market calendar kept in the state folder: the same sessions and closes as
exchange_calendars builds, read back by later processes without building it (a fifth of a
one-note refresh), and built again whenever the kept file is not a whole, plausible one."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rotation_notes import clock

YEARS = (2025, 2026)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(folder))
    clock._schedule.cache_clear()
    yield folder
    clock._schedule.cache_clear()


def built(year: int) -> list[tuple[dt.date, dt.datetime]]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start=f"{year - 1}-01-01", end=f"{year + 1}-12-31")
    return [
        (day.date(), close.to_pydatetime().astimezone(dt.UTC))
        for day, close in cal.schedule["close"].items()
    ]


def kept(state: Path, year: int) -> Path:
    (path,) = (state / "calendar").glob(f"xnys-{year}-*.json")
    return path


@pytest.mark.parametrize("year", YEARS)
def test_the_kept_schedule_is_the_one_exchange_calendars_builds(state, year):
    clock._schedule(year)
    path = kept(state, year)
    clock._schedule.cache_clear()
    read = clock._schedule(year)  # from the file this time
    truth = built(year)
    assert [(d, read.closes[d]) for d in read.days] == truth
    days = {d for d, _ in truth}
    day = dt.date(year, 1, 1)
    while day <= dt.date(year, 12, 31):
        assert clock.is_session(day) == (day in days), day
        day += dt.timedelta(days=1)
    early = dt.datetime(2026, 11, 27, 18, tzinfo=dt.UTC)  # 13:00 New York
    assert clock.session_close(dt.date(2026, 11, 27)) == early
    assert path.stat().st_size < 64_000


def answers() -> str:
    return (
        "import datetime as dt, sys\n"
        "from rotation_notes import clock\n"
        "now = dt.datetime(2026, 11, 27, 18, 45, tzinfo=dt.UTC)\n"
        "print(clock.last_closed_session(now), clock.next_session(dt.date(2026, 12, 24)),\n"
        "      clock.session_close(dt.date(2026, 12, 24)).isoformat(),\n"
        "      len(clock.sessions_in(dt.date(2025, 12, 1), dt.date(2027, 2, 1))))\n"
        "print('exchange_calendars' in sys.modules)\n"
    )


def test_a_later_process_reads_the_calendar_instead_of_building_it(state):
    env = {**os.environ, "ROTATION_NOTES_STATE": str(state)}
    run = [sys.executable, "-c", answers()]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert first.splitlines()[1] == "True"  # built: exchange_calendars imported
    assert second.splitlines()[1] == "False"  # read: not even imported
    assert first.splitlines()[0] == second.splitlines()[0]
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="2025-01-01", end="2027-12-31")
    count = len(cal.sessions_in_range("2025-12-02", "2027-02-01"))
    close = cal.schedule.loc["2026-12-24", "close"].isoformat()
    # the day after Thanksgiving closes early and has settled by 18:45; Christmas is a holiday
    assert first.splitlines()[0] == f"2026-11-27 2026-12-28 {close} {count}"


def _damage(kind: str, text: str) -> str:
    data = json.loads(text)
    sessions = data["sessions"]
    if kind == "garbage":
        return "\x00\xff not json"
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "a list":
        return json.dumps(sessions)
    if kind == "another format":
        data["format"] = 99
    elif kind == "another year":
        data["year"] += 1
    elif kind == "out of order":
        sessions[10], sessions[11] = sessions[11], sessions[10]
    elif kind == "a close on another day":
        sessions[5][1] += 86_400
    elif kind == "a close as text":
        sessions[5][1] = str(sessions[5][1])
    elif kind == "a session twice":
        sessions.insert(5, sessions[5])
    elif kind == "half the sessions":
        del sessions[::2]
    elif kind == "a day outside the years":
        sessions.append(["2031-01-02", 1925064000])
    elif kind == "no sessions":
        del data["sessions"]
    return json.dumps(data)


DAMAGE = (
    "garbage",
    "truncated",
    "a list",
    "another format",
    "another year",
    "out of order",
    "a close on another day",
    "a close as text",
    "a session twice",
    "half the sessions",
    "a day outside the years",
    "no sessions",
)


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_kept_calendar_is_built_again(state, kind):
    clock._schedule(2026)
    path = kept(state, 2026)
    good = path.read_text(encoding="utf-8")
    path.write_text(_damage(kind, good), encoding="utf-8")
    assert clock._read(path, 2026) is None
    clock._schedule.cache_clear()
    schedule = clock._schedule(2026)
    assert [(d, schedule.closes[d]) for d in schedule.days] == built(2026)
    assert path.read_text(encoding="utf-8") == good  # and kept whole again


def test_another_version_of_the_library_builds_a_calendar_of_its_own(state, monkeypatch):
    import importlib.metadata

    clock._schedule(2026)
    first = kept(state, 2026)
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "99.0" if name == "exchange_calendars" else real(name),
    )
    clock._schedule.cache_clear()
    clock._schedule(2026)
    files = sorted(p.name for p in (state / "calendar").glob("xnys-2026-*.json"))
    assert len(files) == 2 and first.name in files
    assert any("xcals-99.0-" in name for name in files)


def test_a_state_folder_that_cannot_be_written_still_gives_the_calendar(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder would be", encoding="utf-8")
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(blocked))
    clock._schedule.cache_clear()
    try:
        assert clock.session_close(dt.date(2026, 7, 2)).hour == 20
        assert not clock.is_session(dt.date(2026, 7, 3))
    finally:
        clock._schedule.cache_clear()
    assert blocked.read_text(encoding="utf-8") == "a file where the state folder would be"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_new_daylight_saving_rules_build_a_calendar_of_their_own(state, monkeypatch):
    """The closes are kept in UTC: should New York's offsets change (a law ending the clock
    change, a new time-zone database), the kept file must not be read for them."""
    import zoneinfo

    clock._schedule(2026)
    first = kept(state, 2026)
    real = zoneinfo.ZoneInfo

    def permanent_summer_time(key: str) -> dt.tzinfo:
        if key == "America/New_York":
            return dt.timezone(dt.timedelta(hours=-4))
        return real(key)

    with monkeypatch.context() as patch:
        patch.setattr(zoneinfo, "ZoneInfo", permanent_summer_time)
        other = clock._file(2026)
    assert other is not None and other != first and other.parent == first.parent
    assert clock._file(2026) == first
