"""`rotation-notes data status|fetch`, and a refresh falling back to the cache (in process)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import SAMPLE_DATA, THESIS, run_main
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.yahoo import YahooProvider
from yahoo_fake import FakeYahoo, load_closes

SYMBOLS = ["IWM", "QQQ", "^RUT", "^IXIC"]


def fill_cache(cache_dir, until="2026-08-21"):
    from yfinance.data import YfData

    YfData().cache_get.cache_clear()
    fake = FakeYahoo(load_closes(SAMPLE_DATA, SYMBOLS), until=until)
    now = dt.datetime.combine(
        dt.date.fromisoformat(until) + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC
    )
    YahooProvider(PriceCache(cache_dir), session=fake.session(), now=lambda: now).load(SYMBOLS)


def test_data_status_lists_cached_symbols(tmp_path):
    cache = tmp_path / "c"
    fill_cache(cache)
    result = run_main("data", "status", tmp_path, "--cache", cache)
    assert result.returncode == 0, result.stderr
    assert f"cache: {cache / 'prices.sqlite3'}" in result.stdout
    iwm = next(line for line in result.stdout.splitlines() if line.startswith("IWM "))
    assert "2000-05-26 2026-08-21" in iwm and " ok (Yahoo Finance (yfinance))" in iwm


def test_data_fetch_without_network_says_why_and_exits_2(make_vault, tmp_path):
    vault = make_vault({"t.md": THESIS})
    result = run_main("data", "fetch", vault, "--cache", tmp_path / "c")
    assert result.returncode == 2
    assert "IWM      failed: live fetch failed: network unreachable" in result.stderr
    status = run_main("data", "status", vault, "--cache", tmp_path / "c")
    assert "failed: network unreachable" in status.stdout
    assert (vault / "t.md").read_text() == THESIS  # fetch never touches notes


def test_refresh_falls_back_to_cache_and_reports_it(make_vault, tmp_path):
    cache = tmp_path / "c"
    fill_cache(cache, until="2026-08-19")  # cache is newer than nothing, older than bundled
    vault = make_vault({"t.md": THESIS}, data=False)
    result = run_main("refresh", vault, "--cache", cache, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["data"]["IWM"]["kind"] == "cache"
    assert report["data"]["IWM"]["message"] == "live fetch failed: network unreachable"
    assert report["notes"][0]["as_of"] == "2026-08-19"
    text = (vault / "t.md").read_text()
    assert "Live fetch failed: network unreachable: IWM, QQQ, ^RUT, ^IXIC from cache (" in text
    assert "data to 2026-08-19." in text
    assert "warning: Live fetch failed: network unreachable" in result.stderr


def test_offline_never_fetches_and_says_so(make_vault, tmp_path):
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--offline", "--cache", tmp_path / "c", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"]["IWM"]["message"] == "offline run: not fetched"
    status = run_main("data", "status", vault, "--cache", tmp_path / "c")
    assert "empty: nothing fetched yet" in status.stdout  # no fetch was even attempted


def test_data_fetch_honours_a_bundled_vault(make_vault, tmp_path):
    """provider = "bundled": nothing is fetched; every symbol is current from the CSVs."""
    vault = make_vault({"t.md": THESIS})
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    result = run_main("data", "fetch", vault, "--cache", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        'provider = "bundled" in rotation-notes.toml: nothing to fetch; prices come from '
        "bundled CSV (Data/market-data/)"
    )
    assert "IWM      bundled CSV (Data/market-data/), data to 2026-08-21" in lines
    assert lines[-1] == "4 of 4 symbols current in bundled CSV (Data/market-data/)"
    assert "failed" not in result.stderr
    assert not (tmp_path / "c").exists()  # no cache was even opened


LONG_REASON = (
    "ConnectionError('Failed to perform, curl: (7) Failed to connect to "
    "query2.finance.yahoo.com:443 over proxy 127.0.0.1 after 0 ms: Could not connect to "
    "server. See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')"
)


@pytest.mark.parametrize("columns", [80, 50, 200])
def test_data_status_shows_the_whole_failure_reason_wrapped(tmp_path, monkeypatch, columns):
    cache = tmp_path / "c"
    PriceCache(cache).log_failure(
        "IWM",
        provider="Yahoo Finance (yfinance)",
        outcome="failed: network unreachable",
        message=LONG_REASON,
        fetched_at="2026-08-22T15:00:00+00:00",
    )
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_main("data", "status", tmp_path, "--cache", cache)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("IWM "))
    assert lines[start] == (
        "IWM      -          -               0  2026-08-22T15:00:00+00:00 "
        "failed: network unreachable (Yahoo Finance (yfinance)):"
    )
    reason = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        reason.append(line)
    # a line is longer only when it is one word (a URL is never cut)
    assert reason and all(len(ln) <= columns or " " not in ln.strip() for ln in reason), reason
    assert " ".join(line.strip() for line in reason) == LONG_REASON
    if columns >= 80:  # the reason hangs under the "last fetch" column
        column = lines[start - 1].index("last fetch")
        assert all(ln.startswith(" " * column) and ln[column] != " " for ln in reason), reason
