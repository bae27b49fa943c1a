"""A note's reported status says what happened to the note's own file: "updated" only when its
bytes were written, "would_update" in a dry run, and charts written beside it said apart."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import SAMPLE, SAMPLE_NOTE, run_main, snapshot

AS_OF = "2026-02-04"  # the sample note is committed as of 2026-08-21: as of this it changes
CHART = "Attachments/iwm-vs-qqq-price-chart.png"


@pytest.fixture
def vault(tmp_path):
    dest = tmp_path / "vault"
    shutil.copytree(SAMPLE, dest)
    return dest


def note_report(result) -> dict:
    """The one note of the --json report (after the diffs, with --diff)."""
    (note,) = json.loads(result.stdout[result.stdout.index('{\n  "vault"') :])["notes"]
    return note


@pytest.mark.parametrize("mode", ["--check"])  # --diff with --json: a usage error (test_cli)
def test_a_dry_run_says_would_update_in_json(vault, mode):
    before = snapshot(vault)
    result = run_main("refresh", vault, "--offline", "--as-of", AS_OF, mode, "--json")
    note = note_report(result)
    assert note["status"] == "would_update"
    assert SAMPLE_NOTE in note["changed"]
    assert f"would update {SAMPLE_NOTE} (as of {AS_OF})" in result.stderr
    assert result.returncode == (1 if mode == "--check" else 0)
    assert snapshot(vault) == before


def test_a_real_run_says_updated_then_unchanged(vault):
    first = note_report(run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--json"))
    assert first["status"] == "updated" and SAMPLE_NOTE in first["changed"]
    again = run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--json", "--check")
    assert note_report(again)["status"] == "unchanged" and again.returncode == 0


def strip_regions(vault) -> bytes:
    """The sample thesis with its properties and prose but no region, its chart embedded."""
    path = vault / SAMPLE_NOTE
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"%% rotation-notes:(\w+) %%.*?%% /rotation-notes:\1 %%\n", "", text, flags=re.S)
    text += "\n![[iwm-vs-qqq-price-chart.png]]\n"
    path.write_text(text, encoding="utf-8")
    (vault / CHART).unlink()
    return path.read_bytes()


def test_a_thesis_without_regions_is_unchanged_and_its_chart_is_written(vault):
    note_bytes = strip_regions(vault)

    check = run_main("refresh", vault, "--offline", "--check", "--json")
    report = note_report(check)
    assert (report["status"], report["changed"]) == ("unchanged", [CHART])
    assert check.returncode == 1  # --check: the chart would change
    assert (
        f"unchanged  {SAMPLE_NOTE} (as of 2026-08-21): it has no rotation-notes regions "
        "('refresh --init' inserts them); 1 chart would be written\n" in check.stderr
    )
    assert "0 would update, 1 unchanged, 0 failed; 1 chart would be written\n" in check.stderr
    assert not (vault / CHART).exists()

    run = run_main("refresh", vault, "--offline", "--json")
    report = note_report(run)
    assert (report["status"], report["changed"]) == ("unchanged", [CHART])
    assert run.returncode == 0
    assert (
        f"unchanged  {SAMPLE_NOTE} (as of 2026-08-21): it has no rotation-notes regions "
        "('refresh --init' inserts them); 1 chart written\n" in run.stderr
    )
    assert "0 updated, 1 unchanged, 0 failed; 1 chart written\n" in run.stderr
    assert (vault / SAMPLE_NOTE).read_bytes() == note_bytes
    assert (vault / CHART).exists()

    again = run_main("refresh", vault, "--offline", "--check", "--json")
    assert (note_report(again)["changed"], again.returncode) == ([], 0)
    assert "chart" not in again.stderr.splitlines()[0]


def test_a_note_with_regions_whose_chart_alone_changes_is_unchanged(vault):
    """The class: any note whose bytes stay the same is never reported as updated."""
    assert run_main("refresh", vault, "--offline").returncode == 0  # as an offline run renders
    (vault / CHART).unlink()
    note_bytes = (vault / SAMPLE_NOTE).read_bytes()
    result = run_main("refresh", vault, "--offline", "--json")
    report = note_report(result)
    assert (report["status"], report["changed"]) == ("unchanged", [CHART])
    assert (vault / SAMPLE_NOTE).read_bytes() == note_bytes
    assert f"unchanged  {SAMPLE_NOTE} (as of 2026-08-21); 1 chart written\n" in result.stderr
