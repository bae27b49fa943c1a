"""A run killed mid-fetch (SIGKILL) never leaves a half-written cache.

Workers loop over fetches (or history replacements) and print a line after each one. A kill
waits for a random number of them to complete (always at least one: the cache then holds
something to break), then for a random part of the time the last one took: so it lands at a
random moment inside the next, however fast or loaded the machine is. Nothing is judged by
wall time; a hung worker meets a generous deadline.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pandas as pd
import pytest

from conftest import SAMPLE_DATA
from yahoo_fake import load_closes

SYMBOLS = ["IWM", "QQQ", "^RUT", "^GSPC"]
KILLS = 8

WORKER = r"""
import datetime as dt, sys
sys.path.insert(0, {tests!r})
from yahoo_fake import FakeYahoo, load_closes
from yfinance.data import YfData
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.yahoo import YahooProvider
from pathlib import Path

base = load_closes(Path({data!r}), {symbols!r})
cache = PriceCache(Path({cache!r}))
days = sorted(set(base["IWM"].index))[-400:]
i = int(sys.argv[1]) * 1000
print("ready", flush=True)
while True:
    i += 1
    day = days[i % len(days)]
    factor = 1.0 if i % 2 else 2.0  # every other run Yahoo "revises" the whole history
    fake = FakeYahoo({{s: c * factor for s, c in base.items()}}, until=str(day.date()))
    YfData().cache_get.cache_clear()
    now = dt.datetime.combine(day.date() + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    YahooProvider(cache, session=fake.session(), now=lambda: now).load({symbols!r})
    print("loop", i, flush=True)
"""


STORE_WORKER = r"""
import sys
sys.path.insert(0, {tests!r})
import pandas as pd
from rotation_notes.prices.cache import PriceCache
from pathlib import Path

cache = PriceCache(Path({cache!r}))
days = pd.bdate_range("1900-01-01", periods=60000)
base = pd.Series(range(1, len(days) + 1), index=days, dtype="float64")
i = 0
print("ready", flush=True)
while True:
    i += 1
    cache.store("BIG", base * (1.0 if i % 2 else 2.0), provider="test", replace_all=True)
    print("stored", i, flush=True)
"""


def check_cache(path: Path, base: dict[str, pd.Series]) -> int:
    db = sqlite3.connect(path / "prices.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    symbols_seen = 0
    for s in SYMBOLS:
        rows = db.execute("SELECT date, close FROM bars WHERE symbol = ? ORDER BY date", (s,))
        got = pd.Series(dict(rows.fetchall()), dtype="float64")
        if got.empty:
            continue
        symbols_seen += 1
        got.index = pd.to_datetime(got.index)
        ratio = (got / base[s].reindex(got.index)).round(6).unique()
        # one consistent basis: never old closes mixed with revised ones
        assert len(ratio) == 1 and ratio[0] in (1.0, 2.0), (s, ratio[:5])
        # and a whole history: every session up to the last cached one, none missing
        assert got.index.equals(base[s].loc[: got.index[-1]].index), (s, len(got))
        (logged,) = db.execute(
            "SELECT count(*) FROM fetches WHERE symbol = ? AND outcome IN ('ok', 'revised')", (s,)
        ).fetchone()
        assert logged >= 1  # bars are only ever stored together with their fetch log entry
    db.close()
    return symbols_seen


#: Only a hung worker takes this long to print its next line.
DEADLINE = 300.0


def _next_line(out: IO[str], proc: subprocess.Popen[str]) -> str:
    line = out.readline()
    assert line, f"the worker ended (exit {proc.wait(timeout=DEADLINE)}) before its next line"
    return line


def _kill_mid_work(script: Path, arg: str, rng: random.Random) -> int:
    """Run the worker, wait until it has done 1 or 2 units of work, then kill it after a
    random part of the time its last unit took; returns the units completed."""
    proc = subprocess.Popen(
        [sys.executable, str(script), arg],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        assert _next_line(proc.stdout, proc).startswith("ready")
        done, last = rng.randint(1, 2), time.monotonic()
        for _ in range(done):
            _next_line(proc.stdout, proc)
            unit, last = time.monotonic() - last, time.monotonic()
        time.sleep(rng.uniform(0, unit))
    finally:
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=DEADLINE)
    return done + len(out.splitlines())  # and those completed while it slept


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_history_replacement_is_all_or_nothing_under_sigkill(tmp_path):
    """Writing dominates here (60,000-row histories replaced back to back), so kills land
    inside transactions: the history is always whole, old or new, never a mixture or a stub."""
    cache = tmp_path / "cache"
    script = tmp_path / "store_worker.py"
    script.write_text(STORE_WORKER.format(tests=str(Path(__file__).parent), cache=str(cache)))
    rng = random.Random(7)
    stores = 0
    for n in range(KILLS):
        stores += _kill_mid_work(script, str(n), rng)
        db = sqlite3.connect(cache / "prices.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = db.execute("SELECT count(*) FROM bars").fetchone()
        first_close = db.execute("SELECT close FROM bars WHERE date = '1900-01-01'").fetchone()
        last_close = db.execute("SELECT close FROM bars ORDER BY date DESC LIMIT 1").fetchone()
        db.close()
        assert count in (0, 60000), f"kill {n}: {count} rows, a half-written history"
        if count:
            assert last_close[0] == 60000 * first_close[0], f"kill {n}: mixed old and new closes"
    print(f"{KILLS} kills during {stores} history replacements, every history whole")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_cache_survives_sigkill_at_random_moments(tmp_path):
    tests_dir = str(Path(__file__).parent)
    cache = tmp_path / "cache"
    script = tmp_path / "worker.py"
    script.write_text(
        WORKER.format(tests=tests_dir, data=str(SAMPLE_DATA), symbols=SYMBOLS, cache=str(cache))
    )
    base = load_closes(SAMPLE_DATA, SYMBOLS)
    rng = random.Random(20261124)
    loops = 0
    for n in range(KILLS):
        loops += _kill_mid_work(script, str(n), rng)
        check_cache(cache, base)
    assert check_cache(cache, base) == len(SYMBOLS)
    print(f"{KILLS} kills, {loops} completed fetch loops, cache intact after each")
