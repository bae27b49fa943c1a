"""Extreme values never reach the user raw: no library warning on stderr, no 300-digit number.

A library's warning (matplotlib, pandas, numpy) printed to the terminal is noise the user
cannot act on; routed through logging it shows, prefixed, with ``-v``. Numbers past any
sensible size (a hand-entered 1e308, a sub-cent price) are written so a table stays a table.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from conftest import SAMPLE_DATA, THESIS, THESIS_FRONTMATTER, run_cli, run_main
from rotation_notes.output.charts import ChartLine, draw_chart

#: A library's warning printed raw (``UserWarning: ...``), or a crash.
STRAY = re.compile(r"\w*Warning\b|Traceback")
AS_OF = "2026-02-04"
CHART = "iwm-vs-qqq-price-chart.png"


def region(text: str, name: str) -> str:
    start = text.index(f"%% rotation-notes:{name} %%\n") + len(f"%% rotation-notes:{name} %%\n")
    return text[start : text.index(f"%% /rotation-notes:{name} %%")]


def test_a_vault_matplotlibrc_cannot_make_matplotlib_print_to_the_terminal(make_vault):
    """Run inside a vault (the default), matplotlib reads the vault's matplotlibrc: this one
    makes it warn (``warnings.warn``) and log (a bad key) while rotation-notes imports it."""
    rc = "toolbar: toolmanager\nno.such.key: 1\n"
    vault = make_vault({"t.md": THESIS, "matplotlibrc": rc})

    quiet = run_cli("refresh", "--offline", "--as-of", AS_OF, cwd=vault)

    assert quiet.returncode == 0, quiet.stderr
    assert not STRAY.search(quiet.stderr), quiet.stderr
    assert "no.such.key" not in quiet.stderr
    assert "updated    t.md (as of 2026-02-04)" in quiet.stderr
    assert (vault / CHART).is_file()
    assert "IWM (blue)" in region((vault / "t.md").read_text(encoding="utf-8"), "charts")

    # with -v both are there, as rotation-notes' own log lines
    verbose = run_cli("refresh", "-v", "--offline", "--as-of", "2026-02-03", cwd=vault)
    assert verbose.returncode == 0, verbose.stderr
    lines = verbose.stderr.splitlines()
    assert any(
        ln.startswith("rotation-notes: WARNING: py.warnings: ") and "UserWarning" in ln
        for ln in lines
    ), verbose.stderr
    assert any(ln.startswith("rotation-notes: WARNING: matplotlib: ") for ln in lines)
    assert "no.such.key" in verbose.stderr


def test_a_chart_matplotlib_warns_about_is_drawn_and_the_warning_logged(caplog):
    """Rebased moves past 1e300% (no cleaned data gets there) make matplotlib warn about its
    layout and numpy about an overflow: recorded, logged at debug, none escapes."""
    days = pd.bdate_range("2026-01-01", periods=60)
    huge = pd.Series(np.r_[np.zeros(30), np.full(30, 1e308)], index=days)
    flat = pd.Series(np.zeros(60), index=days)
    lines = [ChartLine("IWM", "IWM", huge), ChartLine("QQQ", "QQQ", flat)]

    with (
        warnings.catch_warnings(record=True) as escaped,
        caplog.at_level(logging.DEBUG, logger="rotation_notes.output.charts"),
    ):
        warnings.simplefilter("always")
        result = draw_chart(lines, 90)

    assert [str(w.message) for w in escaped] == []
    assert result.png.startswith(b"\x89PNG")
    logged = [r.getMessage() for r in caplog.records if r.name == "rotation_notes.output.charts"]
    assert logged and all(m.startswith("chart of IWM, QQQ: ") for m in logged)
    assert any("UserWarning" in m for m in logged), logged
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("rot"))


def write_closes(folder: Path, symbol: str, closes: pd.Series) -> None:
    frame = pd.DataFrame({"Date": closes.index.strftime("%Y-%m-%d"), "Close": closes.to_numpy()})
    frame.to_csv(folder / f"{symbol}.csv", index=False, float_format="%.12g")


def test_extreme_but_real_levels_are_kept_drawn_and_written_sensibly(make_vault):
    """An index near 1e11 moving by a few units, and a flat quote at 2.5e-7 (a crypto pair):
    both are possible, so nothing is flagged, the chart is drawn, and the prices read well."""
    vault = make_vault({"t.md": THESIS})
    data = vault / "Data" / "market-data"
    dates = pd.to_datetime(pd.read_csv(SAMPLE_DATA / "IWM.csv", usecols=["Date"])["Date"])
    big = pd.Series(1e11 + (np.arange(len(dates)) % 7), index=dates)
    tiny = pd.Series(np.full(len(dates), 2.5e-7), index=dates)
    write_closes(data, "IWM", big)
    write_closes(data, "QQQ", tiny)

    result = run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--json")

    assert result.returncode == 0, result.stderr
    assert not STRAY.search(result.stderr), result.stderr
    (report,) = json.loads(result.stdout)["notes"]
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert "Data problems" not in text
    assert not [w for w in report["warnings"] if not w.startswith("Offline run")]
    assert report["tickers"]["IWM"]["reasons"] == report["tickers"]["QQQ"]["reasons"] == {}
    tracking = region(text, "tracking")
    assert f"| {big.loc[AS_OF]:,.2f} |" in tracking  # 100,000,000,00x.00
    assert "| 2.5e-07 |" in tracking  # not 0.00
    assert (vault / CHART).is_file()
    assert "IWM (blue) +0.0% vs QQQ (red) +0.0% over the last 90 days" in region(text, "charts")


def test_a_hand_entered_metric_of_1e308_is_written_in_scientific_notation(make_vault):
    metric = (
        "  setup:\n    metrics:\n      - name: Market cap\n        long: 1.0e+308\n"
        "        short: 2.5e-300\n        unit: ' USD'\n        source: typed in\n"
        "        as_of: 2026-02-04\n        gap: true\n"
    )
    front = THESIS_FRONTMATTER.replace("  history:\n", metric + "  history:\n", 1)
    vault = make_vault({"t.md": THESIS.replace(THESIS_FRONTMATTER, front)})

    result = run_main("refresh", vault, "--offline", "--as-of", AS_OF)

    assert result.returncode == 0, result.stderr
    setup = region((vault / "t.md").read_text(encoding="utf-8"), "setup")
    assert "| Market cap | 1.0e+308 USD | 2.5e-300 USD |" in setup
    assert "| Market cap gap | n/a vs QQQ | — |" in setup  # 4e607%: past any float
    assert not re.search(r"\d{16,}", setup)
