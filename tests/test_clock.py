"""The one market clock: NYSE sessions, holidays, early closes and the settle delay."""

from __future__ import annotations

import datetime as dt

import pandas as pd
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


# --- the three users of the clock: on a holiday and an early close ---------------------------

THANKSGIVING_EVENING = "2026-11-26T23:00"  # 18:00 New York, markets closed all day
EARLY_CLOSE_UNSETTLED = "2026-11-27T18:15"  # 13:15 New York: closed at 13:00, not yet settled
EARLY_CLOSE_SETTLED = "2026-11-27T18:45"  # 13:45 New York


def nyse_closes(last: str = "2026-11-30") -> pd.Series:
    """A close for every NYSE session of 2026 to ``last`` (none on holidays), rising by 1."""
    days = [d for d in pd.date_range("2026-01-02", last) if clock.is_session(d.date())]
    return pd.Series([100.0 + i for i in range(len(days))], index=pd.DatetimeIndex(days))


@pytest.fixture
def yahoo(tmp_path):
    """A YahooProvider on a fake chart API serving NYSE sessions, at a time the test sets."""
    from yfinance.data import YfData

    from rotation_notes.prices.cache import PriceCache
    from rotation_notes.prices.yahoo import YahooProvider
    from yahoo_fake import FakeYahoo

    YfData().cache_get.cache_clear()  # yfinance memoises past ranges in-process
    fake = FakeYahoo({"IWM": nyse_closes()})

    def make(now: str, until: str) -> YahooProvider:
        fake.until = until
        return YahooProvider(
            PriceCache(tmp_path / "cache"),
            session=fake.session(),
            now=lambda: at(now),
            sleep=lambda s: None,
        )

    make.fake = fake  # type: ignore[attr-defined]
    yield make
    YfData().cache_get.cache_clear()


@pytest.mark.parametrize(
    ("evening", "last", "holiday"),
    [
        ("2026-11-25T23:00", "2026-11-25", THANKSGIVING_EVENING),
        ("2026-07-02T23:00", "2026-07-02", "2026-07-03T22:00"),  # Independence Day observed
    ],
)
def test_yahoo_asks_nothing_on_a_holiday_evening(yahoo, evening, last, holiday):
    yahoo(evening, until=last).load(["IWM"])
    yahoo.fake.requests.clear()
    p = yahoo(holiday, until=last)
    assert p.plan(["IWM"]) == (["IWM"], [], [])  # the cache holds the last session
    prices = p.load(["IWM"])
    assert yahoo.fake.data_requests() == [] and p.download_calls == 0
    assert prices.closes["IWM"].index[-1] == pd.Timestamp(last)
    assert prices.sources["IWM"].kind == "cache" and prices.sources["IWM"].complete


def test_yahoo_takes_an_early_close_once_it_has_settled(yahoo):
    yahoo("2026-11-25T23:00", until="2026-11-25").load(["IWM"])
    early = yahoo(EARLY_CLOSE_UNSETTLED, until="2026-11-27")  # Yahoo serves the day's bar
    assert early.load(["IWM"]).closes["IWM"].index[-1] == pd.Timestamp("2026-11-25")
    settled = yahoo(EARLY_CLOSE_SETTLED, until="2026-11-27")
    assert settled.plan(["IWM"]) == ([], ["IWM"], [])  # 2026-11-27 is due: fetched
    prices = settled.load(["IWM"])
    assert prices.closes["IWM"].index[-1] == pd.Timestamp("2026-11-27")
    assert prices.sources["IWM"].kind == "live" and prices.sources["IWM"].complete


class Counting:
    """A provider that counts the watcher's price reloads."""

    name = "counting"

    def __init__(self) -> None:
        self.loads = 0

    def load(self, symbols):
        from rotation_notes.prices.marketdata import PriceSet

        self.loads += 1
        return PriceSet(missing={s: "none" for s in symbols})


def test_watcher_reloads_prices_after_an_early_close_not_on_a_holiday():
    from rotation_notes.watch import MemoryPrices, PriceRefresh

    inner = Counting()
    prices = MemoryPrices(inner)
    prices.load(["IWM"])
    now = [at("2026-11-25T23:00")]
    refresh = PriceRefresh(prices, now=lambda: now[0])
    assert refresh.session == dt.date(2026, 11, 25)
    for instant in (THANKSGIVING_EVENING, EARLY_CLOSE_UNSETTLED):
        now[0] = at(instant)
        assert refresh.tick() == [] and inner.loads == 1, instant
    now[0] = at(EARLY_CLOSE_SETTLED)
    assert refresh.tick() == ["prices"] and inner.loads == 2
    assert refresh.session == dt.date(2026, 11, 27)
    now[0] = at("2026-11-28T15:00")  # Saturday
    assert refresh.tick() == [] and inner.loads == 2


def test_watcher_on_an_interval_reloads_on_every_tick():
    from rotation_notes.watch import MemoryPrices, PriceRefresh

    inner = Counting()
    prices = MemoryPrices(inner)
    prices.load(["IWM"])
    refresh = PriceRefresh(prices, every_minutes=5, now=lambda: at(THANKSGIVING_EVENING))
    assert refresh.tick_every == 300
    assert refresh.tick() == ["prices"] and refresh.tick() == ["prices"] and inner.loads == 3


@pytest.fixture
def bundled_sample(sample_vault):
    (sample_vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    return sample_vault


def scheduled(monkeypatch, vault, now: str):
    from conftest import run_main

    monkeypatch.setenv(clock.NOW_ENV, now + ":00Z")
    return run_main("refresh", "--scheduled", vault)


def test_scheduler_does_nothing_on_a_holiday(bundled_sample, monkeypatch):
    from rotation_notes.schedule import read_state, write_state

    root = bundled_sample.resolve()
    for last, holiday in (
        ("2026-11-25", THANKSGIVING_EVENING),
        ("2026-07-02", "2026-07-03T22:00"),
    ):
        write_state(root, {"last_session": last})
        run = scheduled(monkeypatch, bundled_sample, holiday)
        assert run.returncode == 0, run.stderr
        assert outcome(run) == f"nothing to do: no new session since {last}"
        assert read_state(root) == {"last_session": last}  # not even a run recorded


def test_scheduler_processes_an_early_close_once_it_has_settled(bundled_sample, monkeypatch):
    from rotation_notes.schedule import read_state, write_state

    root = bundled_sample.resolve()
    write_state(root, {"last_session": "2026-11-25"})
    run = scheduled(monkeypatch, bundled_sample, EARLY_CLOSE_UNSETTLED)
    assert outcome(run) == "nothing to do: no new session since 2026-11-25"
    run = scheduled(monkeypatch, bundled_sample, EARLY_CLOSE_SETTLED)
    assert run.returncode == 0, run.stderr
    assert outcome(run) == ("refreshed for session 2026-11-27 (caught up from 2026-11-25)")
    assert read_state(root)["last_session"] == "2026-11-27"


def outcome(run) -> str:  # noqa: ANN001 - a CompletedProcess
    """A scheduled run's outcome: its last stderr line (said once, as a log line)."""
    last = run.stderr.splitlines()[-1]
    assert run.stderr.count(last) == 1, run.stderr
    return last.removeprefix("rotation-notes: INFO: ")
