"""Attacks on f310cba (a run's warnings said once): no warning of a note is lost, and the
scope a shared warning is said for is the truth, in refresh and in the watcher."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_run_warnings import BAD_EVENT, link_bad_catalyst
from test_watch import add_ticker, watch  # noqa: F401 - the watcher fixture

from conftest import THESIS, copy_with_thesis_copies, run_cli


def failing_with_a_bad_link(tmp_path: Path) -> Path:
    """Two thesis copies; the second draws the first's chart file otherwise (so it fails at
    its write, once composed) and links a bad catalyst."""
    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 2)
    note = vault / "Theses" / "Thesis 2.md"
    note.write_text(note.read_text(encoding="utf-8").replace("chart-2.png", "chart-1.png"))
    (vault / "Catalysts" / "Bad.md").write_text(BAD_EVENT)
    link_bad_catalyst(note)
    return vault


def test_a_failed_notes_own_warning_is_printed_as_the_json_has_it(tmp_path):
    """A note can fail after its warnings are known (its chart is another note's file, drawn
    otherwise): its own warning (a catalyst link gone bad) was said nowhere on stderr, while
    the warnings it shares counted it in their scope."""
    vault = failing_with_a_bad_link(tmp_path)

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


def iwn_said_once(w, vault, mark: int, later: str) -> None:
    """Save thesis ``later`` and wait for its render: all that t.md's render logged comes
    before it. Since ``mark``, IWN's warning was said once, for t.md."""
    (vault / later).write_text(THESIS)
    w.wait_for(rf"(updated|unchanged) {re.escape(later)} \(trigger: (created|saved)", after=mark)
    said = [ln for ln in w.lines_after(mark) if "IWN" in ln]
    assert len(said) == 1 and "warning: t.md: Offline run: not fetched: IWN " in said[0], (
        w.lines_after(mark)
    )


def test_a_deleted_note_that_comes_back_says_its_warning_again(make_vault, watch):  # noqa: F811
    """The watcher kept what a note's last render said after the note was deleted (or stopped
    being a thesis): the same note back later, with the same warning, said nothing, and
    ``said`` grew with every note ever seen."""
    iwn = add_ticker(THESIS, "IWN")
    vault = make_vault({"t.md": iwn})
    w = watch(vault)
    assert w.count(r"warning: t\.md: Offline run: not fetched: IWN ") == 1
    note = vault / "t.md"

    note.unlink()
    w.wait_for(r"stopped watching t\.md \(deleted\)")
    mark = w.mark()
    note.write_text(iwn)
    w.wait_for(r"updated t\.md \(trigger: (created|saved)", after=mark)
    iwn_said_once(w, vault, mark, "u.md")

    # no longer a thesis (its property taken out), then one again
    mark = w.mark()
    note.write_text("# t\n\nJust words now.\n")
    (vault / "v.md").write_text(THESIS)  # rendered after t.md's save: it has been handled
    w.wait_for(r"(updated|unchanged) v\.md \(trigger: (created|saved)", after=mark)
    mark = w.mark()
    note.write_text(iwn)
    w.wait_for(r"updated t\.md \(trigger: saved", after=mark)
    iwn_said_once(w, vault, mark, "x.md")
    assert w.stop() == 130


def test_the_watcher_says_all_only_of_all_the_notes_it_watches(make_vault, watch):  # noqa: F811
    """A linked note's change renders the two theses that link to it, of the three watched:
    the warning both give was said for 'all 2 notes', as if no other thesis were watched."""
    linking = THESIS + "\nSee [[Ev]].\n"
    vault = make_vault(
        {
            "a.md": linking,
            "b.md": linking,
            "c.md": THESIS,
            "Ev.md": "---\nevent_start: 2026-02-03\n---\n",
        }
    )
    w = watch(vault)
    (vault / "Ev.md").write_text("---\nevent_start: [2026\n---\n")
    line = w.wait_for(r"linked note Ev\.md not checked for an event window")
    said = re.search(r"warning: (.*?): linked note", line)
    assert said is not None and said.group(1) == "2 notes: a.md, b.md", line
    assert w.stop() == 130


def test_the_watcher_says_a_failed_notes_own_warning(tmp_path, watch):  # noqa: F811
    """A thesis that fails at its write (its chart is another's file, drawn otherwise) has
    composed, and has its warnings: its bad catalyst link was never said in the watch log,
    for as long as it fails."""
    vault = failing_with_a_bad_link(tmp_path)
    w = watch(vault)  # the start's warnings are logged before "watching"
    assert w.count(r"failed Theses/Thesis 2\.md \(trigger: start\)") == 1
    said = [ln for ln in w.lines_after(0) if "catalyst [[Bad]] is n/a" in ln]
    assert len(said) == 1 and "warning: Theses/Thesis 2.md: catalyst [[Bad]]" in said[0], w.lines
    assert w.stop() == 130
