"""A second live provider is only a fetch function: the layer gives it the cache, the
incremental fetch, retries, the fallback and the SymbolSource status (in-process, no yfinance)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import SAMPLE_DATA
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.live import (
    NETWORK,
    RATE_LIMITED,
    UNKNOWN,
    CachedLiveProvider,
    Clock,
    FetchOutcome,
)
from rotation_notes.prices.marketdata import CsvDirectoryProvider
from yahoo_fake import load_closes

SERIES = load_closes(SAMPLE_DATA, ["IWM", "QQQ"])


class Feed:
    """The whole of a second provider: closes to ``today`` (``stops``: a symbol's last), or
    a failure class per symbol."""

    def __init__(self) -> None:
        self.today, self.fail, self.stops, self.asked = "2026-08-14", {}, {}, []

    def __call__(self, symbols: list[str], start: dt.date | None) -> FetchOutcome:
        self.asked.append((list(symbols), start))
        out = FetchOutcome()
        for s in symbols:
            if s in self.fail or s not in SERIES:
                out.failures[s] = (self.fail.get(s, UNKNOWN), "feed says no")
            else:
                last = self.stops.get(s, self.today)
                out.closes[s] = SERIES[s].loc[pd.Timestamp(start or "1900-01-01") : last]
        return out


def day_after(today: str) -> dt.datetime:
    return dt.datetime.fromisoformat(today).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)


def layer(cache_dir, feed: Feed, **kwargs) -> CachedLiveProvider:
    clock = Clock(
        last_closed_session=lambda now: (now - dt.timedelta(days=1)).date(),
        settled_at=lambda day: dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC),
    )
    return CachedLiveProvider(
        feed,
        PriceCache(cache_dir),
        name="Feed (test)",
        clock=clock,
        now=lambda: day_after(feed.today),
        sleep=lambda s: None,
        **kwargs,
    )


@pytest.fixture
def feed() -> Feed:
    return Feed()


def test_full_history_once_then_from_the_cache(tmp_path, feed):
    first = layer(tmp_path, feed).load(["IWM", "QQQ"])
    assert feed.asked == [(["IWM", "QQQ"], None)]  # one batch, whole history
    assert first.sources["IWM"].kind == "live" and first.sources["IWM"].status == "ok"
    assert first.sources["IWM"].provider == "Feed (test)"
    assert first.closes["IWM"].index[-1] == pd.Timestamp("2026-08-14")
    assert PriceCache(tmp_path).last_fetch("IWM").provider == "Feed (test)"

    feed.asked.clear()
    again = layer(tmp_path, feed).load(["IWM", "QQQ"])
    assert feed.asked == []  # the cache holds the last session: nothing asked
    assert again.sources["IWM"].kind == "cache"
    assert again.closes["IWM"].equals(first.closes["IWM"])


def test_a_new_session_is_an_incremental_fetch(tmp_path, feed):
    layer(tmp_path, feed).load(["IWM"])
    feed.asked.clear()
    feed.today = "2026-08-21"
    prices = layer(tmp_path, feed).load(["IWM"])
    ((symbols, start),) = feed.asked
    assert symbols == ["IWM"] and start == dt.date(2026, 8, 4)  # last cached less 10 days
    assert prices.closes["IWM"].index[-1] == pd.Timestamp("2026-08-21")
    assert len(prices.closes["IWM"]) == len(SERIES["IWM"].loc[:"2026-08-21"])


def test_a_failed_fetch_falls_back_to_the_newer_of_cache_and_bundled(tmp_path, feed):
    layer(tmp_path, feed).load(["IWM", "QQQ"])
    feed.today, feed.fail = "2026-08-21", {"IWM": NETWORK, "QQQ": NETWORK}
    bundled = CsvDirectoryProvider(SAMPLE_DATA, label="bundled CSV (data/)", kind="bundled")
    prices = layer(tmp_path, feed, fallback=bundled).load(["IWM"])
    src = prices.sources["IWM"]
    assert (src.kind, src.status) == ("bundled", "fallback")  # bundled reaches 08-21
    assert src.message == "live fetch failed: network unreachable"
    assert PriceCache(tmp_path).last_fetch("IWM").outcome == "failed: network unreachable"

    alone = layer(tmp_path, feed).load(["QQQ"])  # no fallback: the cache, to 08-14
    src = alone.sources["QQQ"]
    assert (src.kind, src.status, src.last_session) == ("cache", "fallback", "2026-08-14")
    assert src.provider == f"cache ({tmp_path.name}/)"  # a note never carries local paths


def test_retries_what_is_worth_retrying_and_reports_unknown_symbols(tmp_path, feed):
    feed.fail = {"QQQ": RATE_LIMITED}
    sleeps: list[float] = []
    p = layer(tmp_path, feed)
    p.sleep = sleeps.append
    prices = p.load(["IWM", "QQQ", "NOPE"])
    assert sleeps == [2.0, 4.0]
    assert [symbols for symbols, _ in feed.asked] == [["IWM", "QQQ", "NOPE"], ["QQQ"], ["QQQ"]]
    assert prices.unknown == {"NOPE": "Feed (test) does not know the symbol NOPE"}
    assert prices.missing["QQQ"] == (
        "live fetch failed: rate-limited; not in the cache or the bundled data"
    )
    assert prices.sources["IWM"].status == "ok"


def test_partial_answers_and_revised_history(tmp_path, feed):
    feed.stops = {"QQQ": "2026-08-07"}
    for _ in range(2):  # the same message from the live answer and from the cache
        prices = layer(tmp_path, feed).load(["IWM", "QQQ"])
        assert prices.sources["QQQ"].status == "partial"  # sent, but short of IWM
        assert prices.sources["QQQ"].message == (
            "partial data: Feed (test) returned sessions to 2026-08-07 only"
        )

    SERIES["IWM"] = SERIES["IWM"] / 2  # a split: every past close revised
    try:
        feed.asked.clear()
        feed.today = "2026-08-21"
        layer(tmp_path, feed).load(["IWM"])
        assert [start for _, start in feed.asked] == [dt.date(2026, 8, 4), None]
        assert PriceCache(tmp_path).last_fetch("IWM").outcome == "revised"
    finally:
        SERIES["IWM"] = SERIES["IWM"] * 2


def test_by_default_the_layer_keeps_the_nyse_clock(tmp_path, feed):
    """No clock given: NYSE sessions. On Saturday 2026-08-22 the last closed session is
    Friday's, so a cache holding it is current and nothing is asked."""
    feed.today = "2026-08-21"
    saturday = dt.datetime(2026, 8, 22, 15, 0, tzinfo=dt.UTC)

    def make() -> CachedLiveProvider:
        return CachedLiveProvider(feed, PriceCache(tmp_path), name="Feed", now=lambda: saturday)

    assert make().load(["IWM"]).closes["IWM"].index[-1] == pd.Timestamp("2026-08-21")
    feed.asked.clear()
    assert make().load(["IWM"]).sources["IWM"].kind == "cache" and feed.asked == []
