"""Market data that is wrong: each case shows n/a with a reason, never a crash or a wrong number.

Every test corrupts a copy of a sample CSV in a throwaway vault, refreshes it as a user
would, and reads the note (and ``--json``). Expected figures are computed here, straight
from the corrupted CSV (bad rows skipped, the last row of a date kept, sorted by date),
never from the tool's own output.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conftest import ALL_REGIONS, FIGURES, SAMPLE_DATA, SHARED, run_main
from rotation_notes.note.regions import find_regions
from rotation_notes.note.text import decode_note
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.marketdata import clean_closes
from rotation_notes.refresh import RefreshOptions, refresh

AS_OF = "2026-02-04"
CHART = "iwm-vs-qqq-price-chart.png"

Rows = list[
    list[str]
]  # CSV rows without the header: Date, Open, High, Low, Close, Adj Close, Volume


def thesis(
    *,
    tracking: str = "IWM, IWO, QQQ",
    catalyst_symbols: str = "IWM, QQQ",
    history_symbols: str = "IWM, QQQ",
    chart: str = "IWM, QQQ",
) -> str:
    """A thesis using every table; text outside the regions that must survive byte for byte."""
    return (
        "---\n"
        'catalysts:\n  - "[[Ev]]"\n'
        "rotation-notes:\n"
        "  long:\n    label: Small caps\n    ticker: IWM\n    index: ^RUT\n"
        "  short:\n    label: Large caps\n    ticker: QQQ\n    index: ^IXIC\n"
        f"  tracking:\n    tickers: [{tracking}]\n    compare: QQQ\n"
        f"  catalysts:\n    symbols: [{catalyst_symbols}]\n"
        f"  charts:\n    - file: {CHART}\n      tickers: [{chart}]\n      days: 90\n"
        f"  history:\n    symbols: [{history_symbols}]\n    since: 2026-01-01\n"
        "    periods:\n      - label: 2016-2017\n"
        "        start: 2016-11-09\n        end: 2017-05-09\n"
        "---\n"
        "# Thesis\n\nMy own words, untouched.  \r\n\n" + ALL_REGIONS + "\nClosing words.\n"
    )


EVENT = "---\nevent_start: 2026-01-12\nevent_end: 2026-01-20\n---\n# Ev\n"


# -- the corrupted data and an independent reading of it ----------------------------------


def read_rows(vault: Path, symbol: str) -> Rows:
    with open(vault / "Data" / "market-data" / f"{symbol}.csv", newline="") as fh:
        return list(csv.reader(fh))[1:]


def corrupt(vault: Path, symbol: str, change: Callable[[Rows], Rows]) -> Path:
    path = vault / "Data" / "market-data" / f"{symbol}.csv"
    with open(path, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *change(rows)])
    return path


def set_close(values: dict[str, str]) -> Callable[[Rows], Rows]:
    def change(rows: Rows) -> Rows:
        for row in rows:
            if row[0] in values:
                row[4] = values[row[0]]
        return rows

    return change


def keep(test: Callable[[str], bool]) -> Callable[[Rows], Rows]:
    return lambda rows: [r for r in rows if test(r[0])]


def reference(vault: Path, symbol: str) -> dict[str, float]:
    """The CSV as it should be read: usable closes only, the last row of a date, by date."""
    out: dict[str, float] = {}
    with open(vault / "Data" / "market-data" / f"{symbol}.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                value = float(row["Close"])
            except ValueError:
                continue
            if math.isfinite(value) and value > 0:
                out[row["Date"]] = value  # a later row of the same date wins
    return dict(sorted(out.items()))


def close(ref: dict[str, float], day: str) -> float:
    """The close of the last session on or before ``day``."""
    return ref[max(d for d in ref if d <= day)]


def pct(a: float, b: float) -> float:
    return (b / a - 1) * 100


def cell(value: float) -> str:
    """As the tables show a percentage."""
    text = f"{value:+.1f}"
    return (text[1:] if float(text) == 0 else text) + "%"


# -- running it ---------------------------------------------------------------------------


def vault_with(make_vault, **kwargs: str) -> Path:
    return make_vault({"t.md": thesis(**kwargs), "Ev.md": EVENT})


def refreshed(vault: Path, *args: str) -> tuple[str, dict]:
    """Refresh through the CLI; the note's text and its --json report."""
    result = run_main("refresh", vault, "--json", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (report,) = json.loads(result.stdout)["notes"]
    return (vault / "t.md").read_text(encoding="utf-8"), report


def region(text: str, name: str) -> str:
    start = text.index(f"%% rotation-notes:{name} %%\n") + len(f"%% rotation-notes:{name} %%\n")
    return text[start : text.index(f"%% /rotation-notes:{name} %%")]


def outside_regions(raw: bytes) -> list[str]:
    note = decode_note(raw)
    inner = {i for r in find_regions(note, "t.md") for i in range(r.begin + 1, r.end)}
    return [line for i, line in enumerate(note.lines) if i not in inner]


def tracking_row(text: str, symbol: str) -> list[str]:
    (line,) = [ln for ln in region(text, "tracking").splitlines() if ln.startswith(f"| {symbol} |")]
    return [c.strip() for c in line.strip("|").split("|")]


def setup_row(text: str, label: str) -> list[str]:
    (line,) = [ln for ln in region(text, "setup").splitlines() if ln.startswith(f"| {label} |")]
    return [c.strip() for c in line.strip("|").split("|")]


# -- the cases ----------------------------------------------------------------------------


BAD_CLOSES = {
    "2025-12-31": "nan",
    "2026-01-09": "0",
    "2026-01-21": "-5.25",
    "2026-01-22": "n/a",
    "2026-01-23": "",
    "2026-01-26": "inf",
}


def test_bad_closes_are_dropped_named_and_never_stand_in(make_vault):
    """NaN, zero, negative, non-numeric, empty and infinite closes."""
    vault = vault_with(make_vault)
    before = (vault / "t.md").read_bytes()
    corrupt(vault, "IWM", set_close(BAD_CLOSES))
    ref, qqq = reference(vault, "IWM"), reference(vault, "QQQ")

    text, report = refreshed(vault, "--as-of", AS_OF)

    # the note says what was dropped: the symbol, how many rows, the first bad date
    problem = (
        "IWM: 6 rows with a missing, non-numeric, zero or negative close dropped (first 2025-12-31)"
    )
    assert f"> [!warning] Data problems\n> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]
    assert "inf" not in text and "nan" not in text.lower() and "-100.0%" not in text

    # YTD would start from the dropped 2025-12-31 close: n/a, not the 2025-12-30 close
    ytd_reason = "the close of 2025-12-31 was dropped as bad data"
    assert setup_row(text, "YTD 2026")[1] == "n/a"
    assert tracking_row(text, "IWM")[6] == "n/a"
    assert f"*IWM: n/a (YTD), {ytd_reason}.*" in region(text, "setup")
    assert f"*IWM: n/a (YTD), {ytd_reason}.*" in region(text, "tracking")
    assert f"(IWM: n/a, {ytd_reason})" in region(text, "headline")
    assert report["tickers"]["IWM"]["ytd_pct"] is None
    assert report["tickers"]["IWM"]["reasons"] == {"ytd_pct": ytd_reason}
    # the 52-week high may have been one of the dropped closes
    assert "*IWM: n/a (from 52-week high), the close of 2026-01-26 was dropped as bad data.*" in (
        region(text, "setup")
    )
    # the catalyst window starts from the close before 2026-01-12: the dropped 2026-01-09
    assert "| [[Ev]] | 2026-01-12 → 2026-01-20 | n/a |" in text
    assert "*Ev, IWM: n/a, the close of 2026-01-09 was dropped as bad data.*" in text
    assert report["catalysts"][0]["reasons"] == {
        "IWM": "the close of 2026-01-09 was dropped as bad data"
    }
    assert report["catalysts"][0]["moves"]["QQQ"] == pytest.approx(
        pct(close(qqq, "2026-01-11"), close(qqq, "2026-01-20")), abs=1e-3
    )

    # figures that need none of the bad rows are exact
    iwm = report["tickers"]["IWM"]
    assert iwm["close"] == pytest.approx(ref[AS_OF], abs=1e-3)
    assert iwm["ret_1d_pct"] == pytest.approx(pct(ref["2026-02-03"], ref[AS_OF]), abs=1e-3)
    assert iwm["ret_1m_pct"] == pytest.approx(pct(close(ref, "2026-01-04"), ref[AS_OF]), abs=1e-3)
    one_year = pct(close(ref, "2025-02-04"), ref[AS_OF])
    assert setup_row(text, "1-year")[1] == cell(one_year)

    # nothing outside the regions changed
    assert outside_regions((vault / "t.md").read_bytes()) == outside_regions(before)


def test_bad_close_on_the_as_of_session_holds_the_note_back_and_says_why(make_vault):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", set_close({AS_OF: "0"}))
    ref, qqq = reference(vault, "IWM"), reference(vault, "QQQ")

    text, report = refreshed(vault, "--as-of", AS_OF)

    assert report["as_of"] == "2026-02-03"  # the last session both legs have
    assert "*Updated as of 2026-02-03 (last session used, for 2026-02-04)." in text
    assert (
        "> - IWM: the close of 2026-02-04 was dropped as bad data; the note is as of "
        "2026-02-03, the last session both legs have\n" in text
    )
    assert (
        "> - IWM: 1 row with a missing, non-numeric, zero or negative close dropped "
        "(first 2026-02-04)\n" in text
    )
    # every figure is as of 2026-02-03, for both legs
    iwm_ytd = pct(ref["2025-12-31"], ref["2026-02-03"])
    qqq_ytd = pct(qqq["2025-12-31"], qqq["2026-02-03"])
    assert report["tickers"]["IWM"]["ytd_pct"] == pytest.approx(iwm_ytd, abs=1e-3)
    assert report["tickers"]["QQQ"]["ytd_pct"] == pytest.approx(qqq_ytd, abs=1e-3)
    assert setup_row(text, "YTD 2026")[1:] == [cell(iwm_ytd), cell(qqq_ytd)]


def test_duplicate_and_unsorted_dates_keep_the_last_row_of_a_date(make_vault):
    vault = vault_with(make_vault)
    rows = read_rows(vault, "IWM")
    last_of = {r[0]: r for r in rows}
    later_1231 = [*last_of["2025-12-31"][:4], "244.5", "244.5", "1"]
    later_asof = [*last_of[AS_OF][:4], "262.75", "262.75", "1"]
    # newest first, with a second row for two dates further down the file
    corrupt(vault, "IWM", lambda rows: [*rows[::-1], later_asof, later_1231])
    ref = reference(vault, "IWM")
    assert (ref["2025-12-31"], ref[AS_OF]) == (244.5, 262.75)  # the later rows win

    text, report = refreshed(vault, "--as-of", AS_OF)

    updated = region(text, "updated")
    assert "> - IWM: rows were not in date order; sorted\n" in updated
    assert (
        "> - IWM: 2 rows with a duplicate date dropped, the last row of each date kept "
        "(first 2025-12-31)\n" in updated
    )
    iwm = report["tickers"]["IWM"]
    ytd = pct(ref["2025-12-31"], ref[AS_OF])
    assert iwm["close"] == pytest.approx(262.75)
    assert iwm["ytd_pct"] == pytest.approx(ytd, abs=1e-3)
    assert iwm["ret_1d_pct"] == pytest.approx(pct(ref["2026-02-03"], ref[AS_OF]), abs=1e-3)
    assert iwm["ret_3m_pct"] == pytest.approx(pct(close(ref, "2025-11-04"), ref[AS_OF]), abs=1e-3)
    assert setup_row(text, "YTD 2026")[1] == cell(ytd)
    assert tracking_row(text, "IWM")[2] == "262.75"
    # the chart too: from the first close of the 90 days to the as-of close
    first = min(d for d in ref if d >= "2025-11-06")
    assert f"IWM (blue) {cell(pct(ref[first], ref[AS_OF]))} vs QQQ" in region(text, "charts")


def test_a_leg_whose_data_stops_weeks_early_holds_the_note_back_and_says_why(make_vault):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", keep(lambda d: d <= "2025-12-29"))
    ref, qqq = reference(vault, "IWM"), reference(vault, "QQQ")

    text, report = refreshed(vault, "--as-of", AS_OF)

    assert report["as_of"] == "2025-12-29"
    assert (
        "> - IWM: data ends 2025-12-29, 37 days before QQQ's; the note is as of 2025-12-29, "
        "the last session both legs have\n" in region(text, "updated")
    )
    assert any(w.startswith("IWM: data ends 2025-12-29, 37 days") for w in report["warnings"])
    # consistent figures as of that session (YTD of 2025), never a 2026 figure from stale data
    assert setup_row(text, "YTD 2025")[1:] == [
        cell(pct(ref["2024-12-31"], ref["2025-12-29"])),
        cell(pct(qqq["2024-12-31"], qqq["2025-12-29"])),
    ]
    # the catalyst is after that session: upcoming (9 NYSE sessions from 12-29 to 01-12), no move
    assert "- [[Ev]]: 2026-01-12 → 2026-01-20, in 9 sessions.\n" in region(text, "catalysts")


def test_a_tracked_symbol_whose_data_stops_weeks_early_is_flagged_or_na(make_vault):
    vault = vault_with(make_vault, catalyst_symbols="IWO, QQQ", history_symbols="IWO, QQQ")
    corrupt(vault, "IWO", keep(lambda d: d <= "2025-12-29"))
    iwo, qqq = reference(vault, "IWO"), reference(vault, "QQQ")

    text, report = refreshed(vault, "--as-of", AS_OF)

    assert report["as_of"] == AS_OF  # not a leg: the note is not held back
    row = tracking_row(text, "IWO")
    # its own last session's figures, flagged with the date they are from ...
    assert row[1] == "IWO (data to 2025-12-29)"
    assert row[3] == cell(pct(iwo["2025-12-26"], iwo["2025-12-29"]))
    # ... but never last year's YTD in this year's column
    assert row[6:] == ["n/a", "n/a"]
    assert "*IWO: n/a (YTD), data ends 2025-12-29, before 2026 began.*" in text
    assert (
        report["tickers"]["IWO"]["reasons"]["ytd_pct"] == "data ends 2025-12-29, before 2026 began"
    )
    # a window or period ending after its data is n/a, not a move to a weeks-old close
    assert "| [[Ev]] | 2026-01-12 → 2026-01-20 | n/a |" in text
    assert "*Ev, IWO: n/a, data ends 2025-12-29, 22 days before 2026-01-20.*" in text
    assert (
        "*Current rotation (since 2026-01-01), IWO: n/a, data ends 2025-12-29, 37 days before "
        "2026-02-04.*" in text
    )
    assert report["catalysts"][0]["moves"] == {
        "IWO": None,
        "QQQ": pytest.approx(pct(close(qqq, "2026-01-11"), close(qqq, "2026-01-20")), abs=1e-3),
    }


def test_a_hole_of_weeks_spanning_a_start_gives_na_with_the_gap(make_vault):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", keep(lambda d: not "2025-12-01" <= d <= "2026-01-20"))
    corrupt(vault, "IWO", keep(lambda d: not "2026-01-15" <= d <= "2026-02-03"))
    ref, iwo = reference(vault, "IWM"), reference(vault, "IWO")

    text, report = refreshed(vault, "--as-of", AS_OF)

    gap = "the last close on or before 2025-12-31 is 2025-11-28, 33 days earlier (data gap)"
    assert f"*IWM: n/a (YTD), {gap}.*" in region(text, "setup")
    assert (
        "*IWM: n/a (from 52-week high), no close between 2025-11-28 and 2026-01-21 (data gap).*"
        in (text)
    )
    assert (
        "*IWM: n/a (1M), the last close on or before 2026-01-04 is 2025-11-28, 37 days earlier "
        "(data gap).*" in region(text, "tracking")
    )
    assert report["tickers"]["IWM"]["reasons"] == {
        "ret_1m_pct": "the last close on or before 2026-01-04 is 2025-11-28, 37 days earlier "
        "(data gap)",
        "ytd_pct": gap,
    }
    assert "*Ev, IWM: n/a, no close between 2025-11-28 and 2026-01-21 (data gap).*" in text
    # the 1-day return across a hole is not a 1-day return
    assert "*IWO: n/a (1D), the previous close is 2026-01-14, 21 days earlier (data gap).*" in text
    # figures whose closes are on both sides of the hole but not across it are exact
    assert report["tickers"]["IWM"]["ret_3m_pct"] == pytest.approx(
        pct(close(ref, "2025-11-04"), ref[AS_OF]), abs=1e-3
    )
    assert report["tickers"]["IWO"]["ytd_pct"] == pytest.approx(
        pct(iwo["2025-12-31"], iwo[AS_OF]), abs=1e-3
    )
    # the chart would rebase IWM from 2026-01-21 and QQQ from 2025-11-06: not drawn, and why
    reason = (
        f"Chart {CHART} not redrawn for 2026-02-04, IWM: no close between 2025-11-28 and "
        "2026-01-21 (data gap)."
    )
    assert region(text, "charts") == f"*{reason}*\n"
    assert reason in report["warnings"]
    assert report["charts"] == []
    assert not (vault / CHART).exists()


def test_one_bar_of_a_tracked_symbol(make_vault):
    vault = vault_with(make_vault)
    corrupt(vault, "IWO", keep(lambda d: d == "2026-01-15"))
    iwo = reference(vault, "IWO")

    text, report = refreshed(vault, "--as-of", AS_OF)

    row = tracking_row(text, "IWO")
    assert row[1:] == [
        "IWO (data to 2026-01-15)",
        f"{iwo['2026-01-15']:,.2f}",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
    ]
    assert "*IWO: n/a (1D, 1M, 3M, YTD), only one session of data.*" in text
    reasons = report["tickers"]["IWO"]["reasons"]
    assert reasons["ret_1d_pct"] == reasons["ytd_pct"] == "only one session of data"


def test_one_bar_of_a_leg_no_crash_and_no_chart(make_vault):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", keep(lambda d: d == "2026-01-15"))
    qqq = reference(vault, "QQQ")

    text, report = refreshed(vault, "--as-of", AS_OF)

    assert report["as_of"] == "2026-01-15"
    assert setup_row(text, "YTD 2026")[1:] == [
        "n/a",
        cell(pct(qqq["2025-12-31"], qqq["2026-01-15"])),
    ]
    assert setup_row(text, "From 52-week high")[1] == "n/a"  # not 0.0%: one close is no range
    assert "*IWM: n/a (YTD, 3-month, 1-year, from 52-week high), only one session of data.*" in text
    assert "**IWM n/a YTD vs QQQ" in text and "(IWM: n/a, only one session of data)" in text
    assert region(text, "charts") == (
        f"*Chart {CHART} not redrawn for 2026-01-15, IWM: only one session in the 90 days to "
        "2026-01-15.*\n"
    )
    assert not (vault / CHART).exists()


def test_as_of_before_any_data_of_a_symbol(make_vault):
    vault = vault_with(make_vault, catalyst_symbols="IWM, IWO", chart="IWM, IWO")
    corrupt(vault, "IWO", keep(lambda d: d >= "2026-03-02"))

    text, report = refreshed(vault, "--as-of", AS_OF)

    assert tracking_row(text, "IWO")[2:] == ["n/a"] * 6
    assert "*IWO: n/a, no data on or before 2026-02-04.*" in text
    assert report["tickers"]["IWO"]["close"] is None
    assert report["tickers"]["IWO"]["reasons"]["close"] == "no data on or before 2026-02-04"
    assert "*Ev, IWO: n/a, no data on or before 2026-01-20.*" in text
    # a chart of it is skipped with the reason; before, the whole note failed
    assert region(text, "charts") == (
        f"*Chart {CHART} not redrawn for 2026-02-04, IWO: no data on or before 2026-02-04.*\n"
    )


def test_as_of_before_all_data_fails_that_note_only(make_vault):
    early = thesis().replace("ticker: IWM\n    index: ^RUT", "ticker: ^GSPC\n    index: ^GSPC")
    early = early.replace("ticker: QQQ\n    index: ^IXIC", "ticker: ^IXIC\n    index: ^IXIC")
    early = early.replace("[IWM, QQQ]", "[^GSPC, ^IXIC]").replace("IWM, IWO, QQQ", "^GSPC, ^IXIC")
    early = early.replace("compare: QQQ", "compare: ^IXIC").replace(CHART, "early.png")
    vault = make_vault({"t.md": thesis(), "Ev.md": EVENT, "early.md": early})
    before = (vault / "t.md").read_bytes()

    result = run_main("refresh", vault, "--as-of", "1990-01-01", "--json")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "failed     t.md: no market data for IWM on or before 1990-01-01; it starts 2000-05-26"
        in (result.stderr)
    )
    assert "updated    early.md (as of 1989-12-29)" in result.stderr
    notes = {n["path"]: n for n in json.loads(result.stdout)["notes"]}
    assert notes["t.md"]["status"] == "failed"
    assert (vault / "t.md").read_bytes() == before


@pytest.mark.parametrize("mode", ["yfinance-fallback", "offline", "bundled", "data-dir"])
def test_the_warning_reaches_the_note_whichever_provider_reads_the_csv(make_vault, mode):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", set_close({"2026-01-21": "0"}))
    args: list[str] = ["--as-of", AS_OF]
    if mode == "offline":
        args.append("--offline")
    elif mode == "bundled":
        (vault / "rotation-notes.toml").write_text(
            'data_dir = "Data/market-data"\nprovider = "bundled"\n'
        )
    elif mode == "data-dir":
        args += ["--data", str(vault / "Data" / "market-data")]

    text, report = refreshed(vault, *args)

    problem = (
        "IWM: 1 row with a missing, non-numeric, zero or negative close dropped (first 2026-01-21)"
    )
    assert f"> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]


def test_other_notes_are_unaffected_by_a_bad_symbol(make_vault):
    other = thesis(tracking="SPY, QQQ", catalyst_symbols="SPY, QQQ", history_symbols="SPY, QQQ")
    other = other.replace("ticker: IWM\n    index: ^RUT", "ticker: SPY\n    index: ^GSPC")
    other = other.replace("[IWM, QQQ]", "[SPY, QQQ]").replace(CHART, "spy.png")
    files = {"t.md": thesis(), "Ev.md": EVENT, "other.md": other}
    clean = make_vault(files, name="clean")
    bad = make_vault(files, name="bad")
    corrupt(bad, "IWM", set_close(BAD_CLOSES))

    for vault in (clean, bad):
        result = run_main("refresh", vault, "--as-of", AS_OF)
        assert result.returncode == 0, result.stderr

    assert (bad / "other.md").read_bytes() == (clean / "other.md").read_bytes()
    assert (bad / "spy.png").read_bytes() == (clean / "spy.png").read_bytes()
    assert "Data problems" not in (bad / "other.md").read_text()


def test_api_refresh_reports_reasons_too(make_vault):
    """The library entry point gives the same reasons as the CLI's --json."""
    vault = vault_with(make_vault)
    corrupt(vault, "IWO", keep(lambda d: d == "2026-01-15"))
    report = refresh(vault, RefreshOptions(as_of=dt.date(2026, 2, 4)))
    (note,) = report.notes
    assert note.status == "updated", note.error
    assert note.tickers["IWO"]["reasons"]["ret_1m_pct"] == "only one session of data"


def test_a_file_with_no_usable_close_fails_its_notes_with_the_reason(make_vault):
    vault = vault_with(make_vault)
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    rows = len(read_rows(vault, "IWM"))
    corrupt(vault, "IWM", lambda rows: [[*r[:4], "0", *r[5:]] for r in rows])
    before = (vault / "t.md").read_bytes()

    result = run_main("refresh", vault, "--as-of", AS_OF)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        f"failed     t.md: no market data for IWM (IWM.csv holds no usable rows ({rows} rows with "
        "a missing, non-numeric, zero or negative close dropped (first 2000-05-26)))"
    ) in result.stderr
    assert (vault / "t.md").read_bytes() == before


# -- closes impossible for the series: out of any range, spikes, level shifts -------------

#: A library's warning printed raw (``UserWarning: ...``), or a crash.
STRAY = re.compile(r"\w*Warning\b|Traceback")
#: A number no table should show: 16 or more digits in a row (a 300-digit 1e308).
LONG_NUMBER = re.compile(r"\d{16,}")
RANGE_RULE = "with a close outside any traded range (1e-10 to 1e+12) dropped"
SPIKE_RULE = (
    "with a one-day spike (a close over 10× above or below both neighbours; 100× at the "
    "first or last row) dropped"
)


def refreshed_quietly(vault: Path, *args: str) -> tuple[str, dict]:
    """``refreshed``, and nothing on stderr but our own lines: no library warning."""
    result = run_main("refresh", vault, "--json", "--offline", *args)
    assert result.returncode == 0, result.stderr
    assert not STRAY.search(result.stderr), result.stderr
    (report,) = json.loads(result.stdout)["notes"]
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert not LONG_NUMBER.search(text), LONG_NUMBER.search(text)
    assert not LONG_NUMBER.search(result.stdout)
    return text, report


def without(ref: dict[str, float], *days: str) -> dict[str, float]:
    return {d: v for d, v in ref.items() if d not in days}


@pytest.mark.parametrize("value", ["1e308", "1e-300"])
def test_an_impossible_last_close_is_dropped_and_holds_the_note_back(make_vault, value):
    """The attack's case: 1e308 gave 300-digit figures, 1e-300 gave -100.0%, unflagged."""
    vault = vault_with(make_vault)
    last = read_rows(vault, "IWM")[-1][0]  # 2026-08-21, the latest session
    corrupt(vault, "IWM", set_close({last: value}))
    ref, qqq = without(reference(vault, "IWM"), last), reference(vault, "QQQ")
    prev = max(ref)

    text, report = refreshed_quietly(vault)

    problem = f"IWM: 1 row {RANGE_RULE} (first {last})"
    held = (
        f"IWM: the close of {last} was dropped as bad data; the note is as of {prev}, "
        "the last session both legs have"
    )
    assert f"> [!warning] Data problems\n> - {problem}\n> - {held}\n" in region(text, "updated")
    assert problem in report["warnings"] and held in report["warnings"]
    assert "-100.0%" not in text
    # every figure is as of the session before, from closes that are all real
    assert report["as_of"] == prev
    ytd = pct(ref["2025-12-31"], ref[prev])
    assert report["tickers"]["IWM"]["close"] == pytest.approx(ref[prev], abs=1e-3)
    assert report["tickers"]["IWM"]["ytd_pct"] == pytest.approx(ytd, abs=1e-3)
    assert setup_row(text, f"YTD {prev[:4]}")[1:] == [
        cell(ytd),
        cell(pct(qqq["2025-12-31"], qqq[prev])),
    ]


@pytest.mark.parametrize(
    ("day", "value", "lines", "reasons"),
    [
        # the close the catalyst window starts from (the last session before 2026-01-12)
        (
            "2026-01-09",
            "1e308",
            [
                "*IWM: n/a (from 52-week high), the close of 2026-01-09 was dropped as bad data.*",
                "| [[Ev]] | 2026-01-12 → 2026-01-20 | n/a |",
                "*Ev, IWM: n/a, the close of 2026-01-09 was dropped as bad data.*",
            ],
            {},
        ),
        # the close YTD starts from
        (
            "2025-12-31",
            "1e-300",
            [
                "| YTD 2026 | n/a |",
                "*IWM: n/a (YTD, from 52-week high), the close of 2025-12-31 was dropped as "
                "bad data.*",
                "(IWM: n/a, the close of 2025-12-31 was dropped as bad data)",
            ],
            {"ytd_pct": "the close of 2025-12-31 was dropped as bad data"},
        ),
    ],
)
def test_an_impossible_close_in_the_middle_makes_the_figures_needing_it_na(
    make_vault, day, value, lines, reasons
):
    vault = vault_with(make_vault)
    corrupt(vault, "IWM", set_close({day: value}))
    ref = without(reference(vault, "IWM"), day)

    text, report = refreshed_quietly(vault, "--as-of", AS_OF)

    problem = f"IWM: 1 row {RANGE_RULE} (first {day})"
    assert f"> [!warning] Data problems\n> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]
    for line in lines:
        assert line in text
    assert report["tickers"]["IWM"]["reasons"] == reasons
    # figures that need none of it are exact
    iwm = report["tickers"]["IWM"]
    assert iwm["ret_1d_pct"] == pytest.approx(pct(ref["2026-02-03"], ref[AS_OF]), abs=1e-3)
    assert iwm["ret_1m_pct"] == pytest.approx(pct(close(ref, "2026-01-04"), ref[AS_OF]), abs=1e-3)


def test_an_impossible_first_close_is_dropped_and_changes_no_figure(make_vault):
    clean = vault_with(make_vault)
    bad = make_vault({"t.md": thesis(), "Ev.md": EVENT}, name="bad")
    first = read_rows(bad, "IWM")[0][0]  # 2000-05-26
    corrupt(bad, "IWM", set_close({first: "1e308"}))

    _, clean_report = refreshed_quietly(clean, "--as-of", AS_OF)
    text, report = refreshed_quietly(bad, "--as-of", AS_OF)

    problem = f"IWM: 1 row {RANGE_RULE} (first {first})"
    assert f"> [!warning] Data problems\n> - {problem}\n" in region(text, "updated")
    assert report["warnings"] == [*clean_report["warnings"], problem]
    assert report["tickers"] == clean_report["tickers"]
    assert report["catalysts"] == clean_report["catalysts"]


def test_a_spike_that_reverts_is_dropped(make_vault):
    """A close 100× its neighbours (cents for dollars) on the last day of the catalyst."""
    vault = vault_with(make_vault)
    day = "2026-01-20"
    spike = reference(vault, "IWM")[day] * 100
    corrupt(vault, "IWM", set_close({day: f"{spike:.4f}"}))
    ref = without(reference(vault, "IWM"), day)

    text, report = refreshed_quietly(vault, "--as-of", AS_OF)

    problem = f"IWM: 1 row {SPIKE_RULE} (first {day})"
    assert f"> [!warning] Data problems\n> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]
    reason = f"the close of {day} was dropped as bad data"
    assert f"*Ev, IWM: n/a, {reason}.*" in text
    assert report["catalysts"][0]["reasons"] == {"IWM": reason}
    assert f"*IWM: n/a (from 52-week high), {reason}.*" in region(text, "setup")
    # the chart's window holds the dropped close, but neither end stands in for it
    assert "IWM (blue) " in region(text, "charts")
    assert report["tickers"]["IWM"]["ytd_pct"] == pytest.approx(
        pct(ref["2025-12-31"], ref[AS_OF]), abs=1e-3
    )


def test_a_level_shift_that_persists_is_kept_and_warned_about(make_vault):
    """Every close from 2026-01-21 on ×50: a split not adjusted for looks the same."""
    vault = vault_with(make_vault)
    day = "2026-01-21"

    def times_50(rows: Rows) -> Rows:
        for row in rows:
            if row[0] >= day:
                row[4] = f"{float(row[4]) * 50:.6f}"
        return rows

    corrupt(vault, "IWM", times_50)
    ref = reference(vault, "IWM")  # nothing dropped
    move = ref[day] / ref["2026-01-20"]

    text, report = refreshed_quietly(vault, "--as-of", AS_OF)

    problem = f"IWM: a one-day move of ×{move:.3g} on {day}, kept: a split not adjusted for?"
    assert f"> [!warning] Data problems\n> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]
    assert "dropped" not in region(text, "updated")
    iwm = report["tickers"]["IWM"]
    assert iwm["reasons"] == {}
    assert iwm["close"] == pytest.approx(ref[AS_OF], abs=1e-3)
    ytd = pct(ref["2025-12-31"], ref[AS_OF])  # the shift is in it, and the note says so
    assert iwm["ytd_pct"] == pytest.approx(ytd, abs=1e-3)
    assert setup_row(text, "YTD 2026")[1] == cell(ytd)
    assert iwm["ret_1d_pct"] == pytest.approx(pct(ref["2026-02-03"], ref[AS_OF]), abs=1e-3)


def test_an_outlier_an_older_version_cached_is_flagged_when_read_back(make_vault, tmp_path):
    """The cache holds what was stored; it is cleaned whole each time it is read."""
    vault = vault_with(make_vault)
    (vault / "Data" / "market-data" / "IWM.csv").unlink()  # IWM only in the cache
    rows = read_rows(make_vault({}, name="data"), "IWM")
    series = pd.Series(
        [1e308 if r[0] == "2026-01-09" else float(r[4]) for r in rows],
        index=pd.DatetimeIndex([r[0] for r in rows]),
    )
    cache = PriceCache(tmp_path / "old-cache")
    cache.store("IWM", series, provider="Yahoo Finance (yfinance)", replace_all=True)
    cache.close()

    text, report = refreshed_quietly(
        vault, "--as-of", AS_OF, "--cache", str(tmp_path / "old-cache")
    )

    problem = f"IWM: 1 row {RANGE_RULE} (first 2026-01-09)"
    assert f"> - {problem}\n" in region(text, "updated")
    assert problem in report["warnings"]
    assert report["catalysts"][0]["reasons"] == {
        "IWM": "the close of 2026-01-09 was dropped as bad data"
    }


def _bundled_and_shared_csvs() -> list[Path]:
    return sorted(SAMPLE_DATA.glob("*.csv")) + sorted((SHARED / "market-data").glob("*.csv"))


def test_the_real_data_triggers_none_of_the_outlier_rules():
    """Every bundled and shared daily series (1927-2026, the 1929, 1987, 2008 and 2020
    crashes included) passes clean_closes whole: no row dropped, nothing warned about."""
    files = _bundled_and_shared_csvs()
    assert len([f for f in files if f.parent == SAMPLE_DATA]) >= 8
    rows = 0
    for path in files:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        series, warnings = clean_closes(path.stem, frame["Date"], frame["Close"])
        assert warnings == [], (path, warnings)
        assert len(series) == len(frame), path
        assert series.attrs["dropped"] == (), path
        rows += len(frame)
    FIGURES.append(f"outlier rules: {rows:,} real daily closes in {len(files)} files, none flagged")


def _clean(values: list[float]) -> tuple[list[float], list[str]]:
    """clean_closes over consecutive weekdays from 2026-01-05; the closes kept, the warnings."""
    days = pd.bdate_range("2026-01-05", periods=len(values)).strftime("%Y-%m-%d")
    series, warnings = clean_closes("X", pd.Series(days), pd.Series(values))
    return series.tolist(), warnings


@pytest.mark.parametrize(
    ("values", "kept", "warned"),
    [
        # a spike, and a run of spikes, that revert
        ([100, 101, 1e4, 102, 103], [100, 101, 102, 103], "1 row with a one-day spike"),
        ([100, 101, 1e4, 9e3, 1e4, 1e4, 9e3, 102], [100, 101, 102], "5 rows with a one-day spike"),
        ([100, 101, 1.01, 102], [100, 101, 102], "1 row with a one-day spike"),
        # six rows is no spike but two level shifts, kept
        ([100, 101, *[1e4] * 6, 102], [100, 101, *[1e4] * 6, 102], "2 one-day moves of over 10×"),
        # up to 10× away is a real move, kept without a word
        ([100, 101, 1010, 102], [100, 101, 1010, 102], None),
        ([100, 500, 250, 260], [100, 500, 250, 260], None),  # +400% then -50%
        # at either end only 100× is a spike; less is a real move, warned about if over 10×
        ([100, 101, 102, 9.0], [100, 101, 102, 9.0], "a one-day move of ÷11.3 on 2026-01-08"),
        ([100, 101, 102, 0.9], [100, 101, 102], "1 row with a one-day spike"),
        ([1.5e4, 100, 101, 102], [100, 101, 102], "1 row with a one-day spike"),
        ([100, 1e5], [100, 1e5], "a one-day move of ×1,000 on 2026-01-06"),  # which is wrong?
        # the bounds of any traded range: kept at them, dropped past them
        ([1e-10, 1e-10, 1e12], [1e-10, 1e-10], "1 row with a one-day spike"),
        ([1e12, 1e12, 1.1e12], [1e12, 1e12], "1 row with a close outside any traded range"),
        ([0.9e-10, 1e-10, 1e-10], [1e-10, 1e-10], "1 row with a close outside any traded range"),
    ],
)
def test_the_outlier_rules_at_their_bounds(values, kept, warned):
    got, warnings = _clean(values)
    assert got == kept
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(warned), warnings
