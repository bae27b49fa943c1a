"""The real yfinance code path, offline: recorded responses and a fake chart API."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from conftest import SAMPLE_DATA, THESIS
from rotation_notes.clock import last_closed_session
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.marketdata import CsvDirectoryProvider, SymbolSource, data_warnings
from rotation_notes.prices.yahoo import NETWORK, PROVIDER, YahooProvider, classify
from rotation_notes.refresh import RefreshOptions, refresh
from yahoo_fake import FIXTURES, FakeYahoo, load_closes

SYMBOLS = ["IWM", "QQQ", "^RUT", "^IXIC", "^GSPC", "IWO", "IWN", "SPY"]
NOW = dt.datetime(2026, 8, 22, 15, 0, tzinfo=dt.UTC)  # Saturday: last closed session 08-21


@pytest.fixture(autouse=True)
def fresh_yfinance_memo():
    """yfinance memoises responses for past date ranges in-process; each test starts clean."""
    from yfinance.data import YfData

    YfData().cache_get.cache_clear()
    yield
    YfData().cache_get.cache_clear()


@pytest.fixture
def fake() -> FakeYahoo:
    return FakeYahoo(load_closes(SAMPLE_DATA, SYMBOLS), until="2026-08-21")


def provider(cache_dir, fake, *, now=NOW, sleeps=None, fallback=None) -> YahooProvider:
    return YahooProvider(
        PriceCache(cache_dir),
        session=fake.session(),
        now=lambda: now,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        fallback=fallback,
    )


def test_recorded_split_response_parses_to_adjusted_closes(tmp_path):
    """Real Yahoo JSON (AAPL, 4:1 split and a dividend) through real yfinance parsing."""
    recorded = json.loads((FIXTURES / "chart-AAPL-2020-08-31-to-2020-11-07.json").read_text())
    body = recorded["response"]["bodyJson"]
    result = body["chart"]["result"][0]

    class Replay(FakeYahoo):
        def send(self, request, **kwargs):
            if "/v8/finance/chart/" in request.url:
                return self._response(request, 200, json.dumps(body))
            return super().send(request, **kwargs)

    p = provider(tmp_path, Replay({}))
    got = p.yahoo.download(["AAPL"], start="2020-08-31", end="2020-11-07")
    assert not got.failures
    closes = got.closes["AAPL"]
    assert len(closes) == len(result["timestamp"]) == 49
    # auto_adjust basis: yfinance's Close is Yahoo's adjusted close, chosen by column name
    expected = result["indicators"]["adjclose"][0]["adjclose"]
    assert closes.to_numpy() == pytest.approx(expected, rel=1e-9)
    assert closes.index[0] == pd.Timestamp("2020-08-31")  # exchange-local session date


def test_first_run_is_one_batched_download_then_nothing(tmp_path, fake):
    p = provider(tmp_path, fake)
    prices = p.load(SYMBOLS)
    assert p.download_calls == 1
    assert sorted({r.symbol for r in fake.data_requests()}) == sorted(SYMBOLS)
    assert all(r.params.get("period1") for r in fake.data_requests())  # full history
    iwm = prices.closes["IWM"]
    assert iwm.index[-1] == pd.Timestamp("2026-08-21")
    assert iwm.loc["2026-02-04"] == pytest.approx(fake.closes["IWM"].loc["2026-02-04"], rel=1e-9)
    assert prices.sources["IWM"].kind == "live" and prices.sources["IWM"].message == ""
    assert prices.names["IWM"] == "IWM long name"  # learnt once, kept in the cache
    # IWO/IWN end 2026-07-31 while the rest reach 2026-08-21: a partial range, said so
    assert (
        prices.sources["IWO"].message == "partial data: Yahoo returned sessions to 2026-07-31 only"
    )

    fake.requests.clear()
    again = provider(tmp_path, fake)
    prices2 = again.load(SYMBOLS)
    assert again.download_calls == 0 and fake.requests == []
    assert prices2.sources["IWM"].kind == "cache"
    assert prices2.closes["IWM"].equals(iwm)
    assert prices2.names["IWM"] == "IWM long name"


def test_incremental_fetch_asks_only_for_recent_sessions(tmp_path, fake):
    fake.until = "2026-08-14"
    provider(tmp_path, fake, now=dt.datetime(2026, 8, 15, 15, 0, tzinfo=dt.UTC)).load(
        ["IWM", "QQQ"]
    )
    fake.requests.clear()
    fake.until = "2026-08-21"
    p = provider(tmp_path, fake)
    prices = p.load(["IWM", "QQQ"])
    assert p.download_calls == 1
    (first, *_) = fake.data_requests()
    start = (
        pd.Timestamp(int(first.params["period1"]), unit="s", tz="UTC")
        .tz_convert("America/New_York")
        .date()
    )
    assert dt.date(2026, 8, 1) <= start <= dt.date(2026, 8, 7)  # last cached less the overlap
    assert prices.closes["IWM"].index[-1] == pd.Timestamp("2026-08-21")
    assert len(prices.closes["IWM"]) == len(fake.closes["IWM"].loc[:"2026-08-21"])


def test_rate_limit_on_first_try_is_retried_with_backoff(tmp_path, fake):
    # yfinance retries a 4xx once itself (other cookie strategy), then raises
    # YFRateLimitError: two 429s on the wire fail our first download attempt.
    fake.rate_limit = {"IWM": 2}
    sleeps: list[float] = []
    p = provider(tmp_path, fake, sleeps=sleeps)
    prices = p.load(["IWM", "QQQ"])
    assert sleeps == [2.0]
    assert p.download_calls == 2  # the retry asks only for what failed
    assert prices.sources["IWM"].kind == "live" and prices.sources["IWM"].message == ""


def test_rate_limit_that_persists_falls_back_and_says_so(tmp_path, fake):
    fake.rate_limit = {"IWM": 99, "QQQ": 99}
    sleeps: list[float] = []
    bundled = CsvDirectoryProvider(SAMPLE_DATA, label="bundled CSV (data/)", kind="bundled")
    p = provider(tmp_path, fake, sleeps=sleeps, fallback=bundled)
    prices = p.load(["IWM", "QQQ"])
    assert sleeps == [2.0, 4.0] and p.download_calls == 3  # bounded
    assert prices.sources["IWM"].kind == "bundled"
    assert prices.sources["IWM"].message == "live fetch failed: rate-limited"


def test_unknown_symbol_is_reported_and_others_still_load(tmp_path, fake):
    fake.unknown = {"ZZZZ"}
    prices = provider(tmp_path, fake).load(["IWM", "ZZZZ"])
    assert "ZZZZ" in prices.unknown and "IWM" in prices.closes


def test_network_down_uses_cache_and_the_note_says_so(tmp_path, fake, make_vault):
    cache = tmp_path / "cache"
    fake.until = "2026-08-14"
    provider(cache, fake, now=dt.datetime(2026, 8, 15, 15, 0, tzinfo=dt.UTC)).load(SYMBOLS)
    fake.until, fake.down = "2026-08-21", True
    vault = make_vault({"t.md": THESIS}, data=False)
    report = refresh(vault, RefreshOptions(), provider=provider(cache, fake))
    (note,) = report.notes
    assert note.status == "updated", note.error
    text = (vault / "t.md").read_text()
    assert "> [!warning] Not live data" in text
    assert "Live fetch failed: network unreachable: IWM, QQQ, ^RUT, ^IXIC from cache (" in text
    assert report.data["IWM"]["message"] == "live fetch failed: network unreachable"
    assert report.data["IWM"]["kind"] == "cache"
    assert note.as_of == "2026-08-14"  # the cache's last session, not a made-up one


def test_unknown_symbol_fails_only_its_note(tmp_path, fake, make_vault):
    fake.unknown = {"ZZZZ"}
    bad = THESIS.replace("ticker: QQQ", "ticker: ZZZZ")
    vault = make_vault({"good.md": THESIS, "bad.md": bad}, data=False)
    report = refresh(vault, RefreshOptions(), provider=provider(tmp_path, fake))
    status = {n.path: (n.status, n.error) for n in report.notes}
    assert status["good.md"][0] == "updated"
    assert status["bad.md"][0] == "failed"
    assert (
        "bad.md: unknown symbol ZZZZ: Yahoo Finance does not know the symbol ZZZZ"
        in status["bad.md"][1]
    )


def test_split_revision_in_overlap_refetches_full_history(tmp_path, fake):
    fake.until = "2026-08-14"
    provider(tmp_path, fake, now=dt.datetime(2026, 8, 15, 15, 0, tzinfo=dt.UTC)).load(["IWM"])
    # a 2:1 split: Yahoo now serves every past adjusted close halved
    fake.closes["IWM"] = fake.closes["IWM"] / 2
    fake.until = "2026-08-21"
    fake.requests.clear()
    p = provider(tmp_path, fake)
    prices = p.load(["IWM"])
    assert p.download_calls == 2  # the incremental range, then the whole history again
    assert prices.closes["IWM"].loc["2010-01-04"] == pytest.approx(
        fake.closes["IWM"].loc["2010-01-04"], rel=1e-9
    )
    assert PriceCache(tmp_path).last_fetch("IWM").outcome == "revised"


def test_failure_classes():
    assert classify("YFRateLimitError('Too Many Requests. Rate limited.')") == "rate-limited"
    assert (
        classify("DNSError('curl: (6) Could not resolve host: query2.finance.yahoo.com')")
        == NETWORK
    )
    assert classify("ConnectionError('Failed to perform, curl: (7) Failed to connect')") == NETWORK
    assert classify("Timeout('curl: (28) Operation timed out')") == "timed out"
    assert classify("possibly delisted; no timezone found") == "unknown symbol"


def test_last_closed_session():
    ny = dt.timezone(dt.timedelta(hours=-4))
    assert last_closed_session(dt.datetime(2026, 8, 21, 15, 0, tzinfo=ny)) == dt.date(2026, 8, 20)
    assert last_closed_session(dt.datetime(2026, 8, 21, 17, 0, tzinfo=ny)) == dt.date(2026, 8, 21)
    assert last_closed_session(dt.datetime(2026, 8, 23, 12, 0, tzinfo=ny)) == dt.date(2026, 8, 21)


def test_note_names_win_over_cached_names(tmp_path, fake, make_vault):
    thesis = THESIS.replace("  history:", "  names:\n    IWM: My small-cap ETF\n  history:")
    vault = make_vault({"t.md": thesis}, data=False)
    report = refresh(vault, RefreshOptions(), provider=provider(tmp_path, fake))
    assert report.notes[0].status == "updated", report.notes[0].error
    text = (vault / "t.md").read_text()
    assert "| IWM | My small-cap ETF |" in text  # the note's own name
    assert "| QQQ | QQQ long name |" in text  # learnt once from Yahoo, kept in the cache
    assert PriceCache(tmp_path).name("IWM") == "IWM long name"


def test_an_intraday_bar_is_never_cached_as_a_close(tmp_path, fake):
    """At 11:00 New York on 2026-08-21 Yahoo already serves that day's unfinished bar."""
    morning = dt.datetime(2026, 8, 21, 15, 0, tzinfo=dt.UTC)
    prices = provider(tmp_path, fake, now=morning).load(["IWM"])
    assert prices.closes["IWM"].index[-1] == pd.Timestamp("2026-08-20")
    evening = dt.datetime(2026, 8, 21, 22, 30, tzinfo=dt.UTC)
    p = provider(tmp_path, fake, now=evening)
    assert p.plan(["IWM"]) == ([], ["IWM"], [])  # the close is fetched after the bell
    assert p.load(["IWM"]).closes["IWM"].index[-1] == pd.Timestamp("2026-08-21")


def test_partial_data_warning_is_the_same_on_every_run(tmp_path, fake):
    first = provider(tmp_path, fake).load(["IWM", "IWO"])
    second = provider(tmp_path, fake).load(["IWM", "IWO"])
    assert second.sources["IWO"].kind == "cache"
    expected = "partial data: Yahoo returned sessions to 2026-07-31 only"
    assert first.sources["IWO"].message == second.sources["IWO"].message == expected


SPIKE = (
    "1 row with a one-day spike (a close over 10× above or below both neighbours; 100× at "
    "the first or last row) dropped (first {})"
)


@pytest.mark.parametrize("day", ["2026-08-14", "2026-08-21"])
def test_an_outlier_yahoo_sends_is_cached_as_sent_and_flagged_on_every_read(tmp_path, fake, day):
    """A close 1000× its neighbours, in the middle or on the last session: dropped as bad
    data from the live fetch and from every later read of the cache, never a figure."""
    sent = fake.closes["IWM"].copy()
    sent.loc[day] *= 1000
    fake.closes["IWM"] = sent
    last = "2026-08-20" if day == "2026-08-21" else "2026-08-21"

    live = provider(tmp_path, fake).load(["IWM", "QQQ"])
    cached = provider(tmp_path, fake).load(["IWM", "QQQ"])

    assert cached.sources["IWM"].kind == "cache"
    for prices in (live, cached):
        iwm = prices.closes["IWM"]
        assert pd.Timestamp(day) not in iwm.index
        assert iwm.attrs["dropped"] == (dt.date.fromisoformat(day),)
        assert data_warnings(prices, "IWM") == [SPIKE.format(day)]
        # Yahoo did send the session: not "partial data"
        assert prices.sources["IWM"] == SymbolSource(PROVIDER, prices.sources["IWM"].kind, last)
    # the cache keeps what Yahoo sent: it is judged with the whole history when read
    stored = PriceCache(tmp_path).closes("IWM")
    assert stored.loc[day] == pytest.approx(sent.loc[day], rel=1e-6)


def test_a_long_failure_message_is_cut_between_words_not_inside_a_host_name():
    from rotation_notes.prices.yahoo import _clip

    host = "query2.finance.yahoo.com"
    text = "Failed to perform, curl: (6) Could not resolve host: " + " ".join([host] * 40)
    clipped = _clip(text)
    assert len(clipped) <= 602 and clipped.endswith(" …")
    assert all(word == host for word in clipped[:-2].split(": ")[-1].split())
    assert _clip("short reason") == "short reason"
