"""Attacks on f310cba (a run's warnings said once): no warning of a note is lost, and the
scope a shared warning is said for is the truth, in refresh and in the watcher."""

from __future__ import annotations

import json

from test_run_warnings import BAD_EVENT, link_bad_catalyst

from conftest import copy_with_thesis_copies, run_cli


def test_a_failed_notes_own_warning_is_printed_as_the_json_has_it(tmp_path):
    """A note can fail after its warnings are known (its chart is another note's file, drawn
    otherwise): its own warning (a catalyst link gone bad) was said nowhere on stderr, while
    the warnings it shares counted it in their scope."""
    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 2)
    note = vault / "Theses" / "Thesis 2.md"
    note.write_text(note.read_text(encoding="utf-8").replace("chart-2.png", "chart-1.png"))
    (vault / "Catalysts" / "Bad.md").write_text(BAD_EVENT)
    link_bad_catalyst(note)

    result = run_cli("refresh", vault, "--offline", "--json")
    assert result.returncode == 2, result.stderr  # a note failed
    notes = {n["path"]: n for n in json.loads(result.stdout)["notes"]}
    assert notes["Theses/Thesis 2.md"]["status"] == "failed"
    for n in notes.values():
        for w in n["warnings"]:
            assert w in result.stderr, (n["path"], w, result.stderr)
    assert result.stderr.count("catalyst [[Bad]] is n/a") == 1
    # said under the failed note's line, as a note's own warning is
    lines = result.stderr.splitlines()
    failed = next(i for i, ln in enumerate(lines) if ln.startswith("failed "))
    assert "catalyst [[Bad]] is n/a" in lines[failed + 1], result.stderr
    assert lines[failed + 1].startswith("  warning: ")
