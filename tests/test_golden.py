"""The sample thesis rendered at a fixed --as-of, against a golden file and the raw CSV rows.

Regenerate the golden file after an intended change with:
    UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
and review the diff like any other code change.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from conftest import SAMPLE_DATA, SAMPLE_NOTE, run_cli, run_main, snapshot

GOLDEN = Path(__file__).parent / "golden" / "Small cap rotation 2026 as of 2026-02-04.md"


def close(symbol: str, day: str) -> float:
    """The close of the last row on or before ``day``, read straight from the CSV."""
    best = None
    with open(SAMPLE_DATA / f"{symbol}.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Date"] <= day:
                best = float(row["Close"])
    assert best is not None
    return best


def pct(a: float, b: float) -> float:
    return (b / a - 1) * 100


def test_sample_note_matches_golden_file(sample_vault):
    """The real CLI in a subprocess, as a user runs it; the tests below run ``main`` in-process."""
    result = run_cli("refresh", sample_vault, "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    rendered = (sample_vault / SAMPLE_NOTE).read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(rendered, encoding="utf-8")
    assert rendered == GOLDEN.read_text(encoding="utf-8")


def test_figures_match_the_data_as_of_2026_02_04(sample_vault):
    result = run_main("refresh", sample_vault, "--as-of", "2026-02-04", "--json")
    assert result.returncode == 0, result.stderr
    (note,) = json.loads(result.stdout)["notes"]
    assert note["as_of"] == "2026-02-04"
    t = note["tickers"]
    for symbol, expected_1dp in [("IWM", 5.8), ("^RUT", 5.7), ("^IXIC", -1.5), ("QQQ", -1.4)]:
        from_csv = pct(close(symbol, "2025-12-31"), close(symbol, "2026-02-04"))
        assert t[symbol]["ytd_pct"] == pytest.approx(from_csv, abs=0.006)
        assert round(from_csv, 1) == round(t[symbol]["ytd_pct"], 1) == expected_1dp  # the issue's
    assert t["IWM"]["close"] == pytest.approx(close("IWM", "2026-02-04"), abs=1e-3)
    assert t["IWM"]["ret_1d_pct"] == pytest.approx(
        pct(close("IWM", "2026-02-03"), close("IWM", "2026-02-04")), abs=0.006
    )
    cat, upcoming = note["catalysts"]
    assert upcoming["note"] == "Catalysts/FOMC September 2026.md" and upcoming["upcoming"]
    assert cat["note"] == "Catalysts/Claude Cowork disruption February 2026.md"
    assert (cat["start"], cat["end"]) == ("2026-02-03", "2026-02-04")
    for symbol in ("^RUT", "^IXIC"):  # close before the window -> close of its last session
        assert cat["moves"][symbol] == pytest.approx(
            pct(close(symbol, "2026-02-02"), close(symbol, "2026-02-04")), abs=0.006
        )
    assert note["charts"] == ["Attachments/iwm-vs-qqq-price-chart.png"]


def test_second_run_writes_nothing(sample_vault):
    assert run_main("refresh", sample_vault, "--as-of", "2026-02-04").returncode == 0
    before = snapshot(sample_vault)
    again = run_main("refresh", sample_vault, "--as-of", "2026-02-04")
    assert again.returncode == 0
    assert "unchanged" in again.stderr
    assert snapshot(sample_vault) == before  # same bytes and same mtimes, PNG included


def test_text_outside_regions_is_untouched(sample_vault):
    from rotation_notes.note.regions import find_regions
    from rotation_notes.note.text import decode_note

    def outside(raw: bytes) -> list[str]:
        note = decode_note(raw)
        inner = {i for r in find_regions(note, "n") for i in range(r.begin + 1, r.end)}
        return [line for i, line in enumerate(note.lines) if i not in inner]

    before = (sample_vault / SAMPLE_NOTE).read_bytes()
    assert run_main("refresh", sample_vault, "--as-of", "2026-01-15").returncode == 0
    after = (sample_vault / SAMPLE_NOTE).read_bytes()
    assert after != before
    assert outside(after) == outside(before)


def test_committed_sample_vault_is_current(sample_vault):
    """The README promises that refreshing the committed sample writes nothing (same data)."""
    result = run_cli("refresh", sample_vault, "--check")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "unchanged  Small cap rotation 2026.md (as of 2026-08-21)" in result.stderr
