"""--as-of a day the cache or the bundled data already covers asks the network for nothing, and
the note says where its data came from plainly (no "Live fetch failed" about a fetch never
needed)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from conftest import SAMPLE, SAMPLE_DATA, SAMPLE_NOTE, run_cli
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.marketdata import CsvDirectoryProvider
from rotation_notes.prices.yahoo import YahooProvider
from yahoo_fake import FakeYahoo, load_closes

SYMBOLS = ["IWM", "QQQ", "^RUT", "^IXIC", "^GSPC", "IWO", "IWN", "SPY"]  # SPY: the benchmark
NOW = dt.datetime(2026, 8, 22, 15, 0, tzinfo=dt.UTC)  # Saturday: last closed session 08-21
AS_OF = dt.date(2026, 2, 4)


@pytest.fixture(autouse=True)
def fresh_yfinance_memo():
    from yfinance.data import YfData

    YfData().cache_get.cache_clear()
    yield
    YfData().cache_get.cache_clear()


@pytest.fixture
def fake() -> FakeYahoo:
    return FakeYahoo(load_closes(SAMPLE_DATA, SYMBOLS), until="2026-08-21")


def bundled() -> CsvDirectoryProvider:
    return CsvDirectoryProvider(SAMPLE_DATA, label="bundled CSV (market-data/)", kind="bundled")


def provider(cache_dir, fake, *, until, now=NOW, fallback=None) -> YahooProvider:
    p = YahooProvider(
        PriceCache(cache_dir), session=fake.session(), now=lambda: now, fallback=fallback
    )
    p.until = until
    return p


def test_as_of_a_day_the_bundled_data_holds_fetches_nothing(tmp_path, fake):
    p = provider(tmp_path, fake, until=AS_OF, fallback=bundled())
    prices = p.load(SYMBOLS)
    assert fake.requests == [] and p.download_calls == 0
    for s in SYMBOLS:
        src = prices.sources[s]
        assert (src.kind, src.message, src.status) == ("bundled", "", "ok"), (s, src)
        assert prices.closes[s].loc[:"2026-02-04"].index[-1] == dt.datetime(2026, 2, 4)
    assert PriceCache(tmp_path).status() == []  # no fetch was tried, so none was logged


def test_as_of_a_day_the_cache_holds_fetches_nothing(tmp_path, fake):
    fake.until = "2026-02-10"
    provider(tmp_path, fake, until=None, now=dt.datetime(2026, 2, 11, 12, tzinfo=dt.UTC)).load(
        ["IWM", "QQQ"]
    )
    fake.requests.clear()
    fake.until = "2026-08-21"
    p = provider(tmp_path, fake, until=AS_OF)  # no bundled data: the cache alone covers it
    prices = p.load(["IWM", "QQQ"])
    assert fake.requests == [] and p.download_calls == 0
    assert {s: (src.kind, src.message) for s, src in prices.sources.items()} == {
        "IWM": ("cache", ""),
        "QQQ": ("cache", ""),
    }


def test_only_what_is_not_held_to_that_day_is_fetched(tmp_path, fake):
    """As of 2026-08-21 the bundled data holds IWM and QQQ, but IWO and IWN end 2026-07-31."""
    p = provider(tmp_path, fake, until=dt.date(2026, 8, 21), fallback=bundled())
    prices = p.load(["IWM", "QQQ", "IWO", "IWN"])
    assert p.download_calls == 1
    assert sorted({r.symbol for r in fake.data_requests()}) == ["IWN", "IWO"]
    assert prices.sources["IWM"].kind == "bundled" and prices.sources["IWO"].kind == "live"


def test_refresh_as_of_a_covered_day_touches_no_network(tmp_path):
    """The real command, Yahoo unreachable: nothing is tried, so nothing failed."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    cache = tmp_path / "cache"
    result = run_cli("refresh", vault, "--as-of", "2026-02-04", "--cache", cache, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert {s: (d["kind"], d["message"]) for s, d in data.items()} == {
        s: ("bundled", "") for s in SYMBOLS
    }
    assert "warning: Live fetch failed" not in result.stderr
    text = (vault / SAMPLE_NOTE).read_text(encoding="utf-8")
    assert "Live fetch failed" not in text and "Not live data" not in text
    assert (
        "*Updated as of 2026-02-04 (last session used). Data: bundled CSV (Data/market-data/).*"
        in text
    )
    status = run_cli("data", "status", vault, "--cache", cache)
    assert "empty: nothing fetched yet" in status.stdout  # no fetch was even attempted

    # the control: as of a session the data does not hold, the fetch is tried (and fails here)
    later = run_cli("refresh", vault, "--as-of", "2026-08-24", "--cache", cache, "--json")
    assert json.loads(later.stdout)["data"]["IWM"]["message"] == (
        "live fetch failed: network unreachable"
    )
